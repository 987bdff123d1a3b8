"""The edge of the Kubernetes output: gather the generated files for a configuration, render them
as resources (:func:`mlmon_nb.kubernetes.manifests.render_manifests`) and write the folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Mapping

from ..baseline import Baseline
from ..config import Config
from ..errors import RulesError
from ..rules.alertmanager import render_alertmanager
from ..rules.files import load_baselines
from ..rules.render import render_rule_files, source
from ..stack.grafana import dashboard_files
from .manifests import GENERATED_HEADER, KubernetesOptions, parse_labels, render_manifests

__all__ = ["DEFAULT_JOB_LABEL", "config_manifests", "monitor_options", "write_manifests"]


# where kube-prometheus' monitors read a target's job from (their ``jobLabel``)
DEFAULT_JOB_LABEL = "app.kubernetes.io/name"


def monitor_options(config: Config, options: KubernetesOptions) -> KubernetesOptions:
    """``options`` with how the monitors name the services' job: ``--job`` or ``--job-label``
    as given, else the configured models' one job (relabelled), or, where they run on different
    jobs, each Service's (Pod's) ``app.kubernetes.io/name`` label; a job such a label cannot
    carry is a RulesError."""
    if not options.job and not options.job_label:
        jobs = sorted(set(config.jobs))
        options = (replace(options, job=jobs[0]) if len(jobs) == 1
                   else replace(options, job_label=DEFAULT_JOB_LABEL))
    for model in config.models if options.job_label else ():
        try:  # each Service must be able to carry its model's job as the label's value
            parse_labels([f"{options.job_label}={model.job}"], "--job-label")
        except RulesError:
            raise RulesError(f"model {model.name}'s job {model.job!r} cannot be the value of "
                             f"the label {options.job_label} on its Service (a Kubernetes label "
                             f"value: at most 63 letters, digits, '-', '_' or '.'): give every "
                             f"service one job with --job JOB, or rename the job") from None
    return options


def config_manifests(config: Config, options: KubernetesOptions | None = None, *,
                     baselines: Mapping[str, Baseline] | None = None) -> dict[str, str]:
    """Every manifest file for ``config``: its rule files (drift rules for the models in
    ``baselines``, by default those with a baseline file), its Alertmanager routing and its
    Grafana dashboards; the monitors' job as :func:`monitor_options` resolves it."""
    baselines = load_baselines(config) if baselines is None else baselines
    options = monitor_options(config, options or KubernetesOptions())
    return render_manifests(render_rule_files(config, baselines=baselines),
                            render_alertmanager(config), dashboard_files(config), options,
                            source=source(config))


def write_manifests(config: Config, directory: str | Path, options: KubernetesOptions | None = None,
                    *, baselines: Mapping[str, Baseline] | None = None) -> list[Path]:
    """Write :func:`config_manifests` into ``directory``; files an earlier generation wrote that
    no longer apply (their first line is the generated header) are removed."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = config_manifests(config, options, baselines=baselines)
    for old in directory.glob("*.yaml"):
        if old.name not in files and old.read_text().startswith(GENERATED_HEADER):
            old.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
