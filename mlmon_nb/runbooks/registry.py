"""The runbook registry: ``<AlertName>.ipynb`` files in folders, with their declared parameters.

A runbook is ``runbooks/<AlertName>.ipynb``; its ``parameters`` cell (read with papermill's
``inspect_notebook`` before anything runs) is its contract. The notebook is always chosen from
the :class:`Registry` by alert name, never from a path in a request. Only ``.ipynb`` files are
runbooks: the paired ``.py`` sources next to them are for reading and diffs.

The shipped runbooks come with the package (a clone's ``runbooks/``, an installed wheel's copy);
the configuration's ``runbook_dirs`` are searched first, so a user's ``HighErrorRate.ipynb``
replaces the shipped one and a ``MyAlert.ipynb`` adds a runbook for the user's own alert.
"""

from __future__ import annotations

import ast
import os
import re
import threading
from pathlib import Path

from ..config import Config, shipped_dir
from ..errors import RunbookError, UnknownRunbook
from .parameters import Parameter, Runbook

__all__ = ["RUNBOOK_DIR", "NOTEBOOK_DIR", "Registry"]

RUNBOOK_DIR = shipped_dir("runbooks")
NOTEBOOK_DIR = shipped_dir("notebooks")
_RUNBOOK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # an alert name, never a path


class Registry:
    """Runbooks by alert name: exactly the ``<AlertName>.ipynb`` files in ``extra`` folders, then
    in ``directory`` (default ``$MLMON_RUNBOOK_DIR``, else the shipped runbooks); the first
    folder holding an alert's notebook wins."""

    def __init__(self, directory: Path | str | None = None, extra: tuple[Path, ...] = ()):
        chosen = directory or os.environ.get("MLMON_RUNBOOK_DIR") or RUNBOOK_DIR
        self.directory = Path(chosen).resolve()
        self.directories = (*(Path(d).resolve() for d in extra), self.directory)
        self._cache: dict[str, tuple[float, Runbook]] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_config(cls, config: Config) -> Registry:
        """The configuration's ``runbook_dirs`` before the shipped runbooks (or
        ``$MLMON_RUNBOOK_DIR``); a configured folder that does not exist is an error."""
        for folder in config.runbook_dirs:
            if not folder.is_dir():
                raise RunbookError(f"runbook_dirs names {folder}, which is not a folder; create "
                                   f"it or remove it from {config.path or 'the configuration'}")
        return cls(extra=config.runbook_dirs)

    def _path(self, alertname: str) -> Path | None:
        for folder in self.directories:
            path = folder / f"{alertname}.ipynb"
            if path.is_file():
                return path
        return None

    def names(self) -> list[str]:
        """Alert names that have a runbook."""
        return sorted({p.stem for folder in self.directories if folder.is_dir()
                       for p in folder.glob("*.ipynb") if _RUNBOOK_NAME.fullmatch(p.stem)})

    def __contains__(self, alertname: object) -> bool:
        return (isinstance(alertname, str) and _RUNBOOK_NAME.fullmatch(alertname) is not None
                and self._path(alertname) is not None)

    def get(self, alertname: str) -> Runbook:
        """The runbook of an alert; RunbookError naming the known ones otherwise."""
        path = self._path(alertname) if alertname in self else None
        if path is None:
            raise UnknownRunbook(str(alertname), self.names(), [str(d) for d in self.directories])
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._cache.get(alertname)
            if cached and cached[0] == mtime and cached[1].path == path:
                return cached[1]
        runbook = Runbook(alertname, path, _declared_parameters(path))
        with self._lock:
            self._cache[alertname] = (mtime, runbook)
        return runbook

    def resolve(self, spec: str) -> Runbook:
        """A runbook from the CLI: an alert name or a path to a notebook in the registry folder."""
        if spec in self:
            return self.get(spec)
        path = Path(spec)
        if path.suffix == ".ipynb":
            resolved = path.resolve()
            if resolved.parent in self.directories and resolved.exists():
                return self.get(resolved.stem)
            # runbooks/X.ipynb (as written from a clone) names the shipped X wherever installed
            if not path.is_absolute() and (self.directory / path.name).exists() \
                    and path.parent.name == self.directory.name:
                return self.get(path.stem)
            raise RunbookError(f"{spec} is not a registered runbook; runbooks live in "
                               f"{self.directory} and are named after their alert: "
                               f"{', '.join(self.names()) or 'none'}")
        return self.get(spec)


# -- parameter inspection -----------------------------------------------------------------------


def _infer_type(declared: str, default: str) -> str:
    """The declared annotation, else the type of the default literal; str when unsure."""
    for name in ("str", "int", "float", "bool"):
        if declared == name or declared.startswith(name + " "):
            return name
    try:
        literal = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return "str"
    return {bool: "bool", int: "int", float: "float"}.get(type(literal), "str")


def _declared_parameters(path: Path) -> dict[str, Parameter]:
    import papermill  # heavy (nbclient, jupyter_client); only when a runbook is first read
    try:
        inspected = papermill.inspect_notebook(str(path))
    except Exception as exc:  # papermill raises bare ValueError/JSON errors for broken notebooks
        raise RunbookError(f"cannot read the parameters of {path}: {exc}; the notebook needs a "
                           f"kernelspec and a cell tagged `parameters`") from exc
    return {name: Parameter(name, _infer_type(str(p.get("inferred_type_name") or ""),
                                              str(p.get("default") or "")),
                            str(p.get("default") or ""), str(p.get("help") or ""))
            for name, p in inspected.items()}
