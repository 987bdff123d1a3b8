"""Build hook: the wheel carries the clone's runbooks/, notebooks/ and the demo's stack/ files.

They stay at the repository's root (where a clone, its tests and `mlmon-nb run runbooks/X.ipynb`
read them); building copies them into ``mlmon_nb/_shipped/``, which ``mlmon_nb.config.shipped_dir``
reads when the package is installed. Everything else is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# folder -> the files of it that ship (globs, relative to the folder)
SHIPPED = {
    "runbooks": ("*.ipynb", "*.py"),
    "notebooks": ("*.ipynb", "*.py"),
    "stack": ("mlmon.yaml", "prometheus.yml", "alertmanager.yml", "rules/*.yml",
              "grafana/**/*.json", "grafana/**/*.yml"),
}


class BuildWithShipped(build_py):
    """build_py, then the shipped folders into the built package."""

    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the clone's folders in place
            return
        target = Path(self.build_lib) / "mlmon_nb" / "_shipped"
        shutil.rmtree(target, ignore_errors=True)
        for folder, patterns in SHIPPED.items():
            for pattern in patterns:
                for source in sorted((ROOT / folder).glob(pattern)):
                    dest = target / folder / source.relative_to(ROOT / folder)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, dest)


setup(cmdclass={"build_py": BuildWithShipped})
