"""``mlmon-nb init``: a configuration for your own models, Prometheus and Alertmanager.

Pure: answers in, checked, a YAML text out; the command asks for what its flags leave out and
writes the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from .config import DEFAULT_PORTS, JOB_PATTERN, check_url, parse_config, parse_duration
from .errors import ConfigError
from .metrics import model_name_problem

__all__ = ["ModelAnswer", "InitAnswers", "check_url", "render_init_config"]


@dataclass(frozen=True)
class ModelAnswer:
    """One model: its name, its service's scrape job and its baseline file ("" for none yet)."""

    name: str
    job: str
    baseline: str = ""


@dataclass(frozen=True)
class InitAnswers:
    """Everything ``init`` writes."""

    prometheus_url: str
    alertmanager_url: str
    models: tuple[ModelAnswer, ...]
    launcher_url: str = "http://127.0.0.1:18088"
    state_dir: str = "mlmon-state"
    scrape_interval: str = "15s"


def _check_model(model: ModelAnswer) -> None:
    if problem := model_name_problem(model.name):
        raise ConfigError(f"--model {problem} (the model_name label's value)")
    if not re.fullmatch(JOB_PATTERN, model.job):
        raise ConfigError(f"--job {model.job!r} (model {model.name}) is not a scrape job name: "
                          f"write the job_name of your Prometheus scrape config")


def render_init_config(answers: InitAnswers) -> str:
    """The mlmon.yaml text for ``answers``; checked by loading it back."""
    urls = {flag: check_url(flag, value) for flag, value in (
        ("--prometheus-url", answers.prometheus_url),
        ("--alertmanager-url", answers.alertmanager_url),
        ("--launcher-url", answers.launcher_url))}
    if not answers.models:
        raise ConfigError("name at least one model: --model NAME --job JOB [--baseline PATH]")
    for model in answers.models:
        _check_model(model)
    interval = f"{parse_duration(answers.scrape_interval):g}s"
    stack: dict = {"state_dir": answers.state_dir, "scrape_interval": interval,
                   "evaluation_interval": interval}
    launcher = urlsplit(urls["--launcher-url"])
    proxied = ""
    if launcher.hostname in ("127.0.0.1", "localhost") and launcher.port:
        stack["ports"] = {"launcher": launcher.port}  # `mlmon-nb launcher` binds there
    else:  # it runs notebooks, so it binds loopback only; the URL is a proxy's in front of it
        proxied = (f"# launcher_url is not this machine's loopback: `mlmon-nb launcher` still "
                   f"binds\n# 127.0.0.1:{DEFAULT_PORTS['launcher']} (it executes notebooks). Put "
                   f"a reverse proxy with TLS and a login\n# at launcher_url in front of it, and "
                   f"pass --allow-host (docs/runbooks.md).\n")
    raw = {"version": 1,
           "prometheus_url": urls["--prometheus-url"],
           "alertmanager_url": urls["--alertmanager-url"],
           "launcher_url": urls["--launcher-url"],
           "stack": stack,
           "models": [{"name": m.name, "job": m.job, **({"baseline": m.baseline} if m.baseline
                                                        else {})} for m in answers.models]}
    parse_config(raw)  # the same checks `mlmon-nb` applies when it reads the file
    return ("# Written by `mlmon-nb init`. Next: `mlmon-nb rules generate -o DIR`, then point your\n"
            "# Prometheus at DIR/rules/*.yml and add DIR/alertmanager-launcher.yml to your\n"
            "# Alertmanager. Every key: mlmon_nb/config.py. runbook_dirs: [FOLDER] adds your own\n"
            "# runbooks (<AlertName>.ipynb), before the shipped ones.\n"
            + proxied + yaml.safe_dump(raw, sort_keys=False))
