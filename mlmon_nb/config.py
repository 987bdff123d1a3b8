"""The configuration: one YAML file (``mlmon.yaml``) mapped to frozen dataclasses.

Loaded in two steps, like Sloth's spec: check the version, then map the YAML to dataclasses.
Every mapping takes only the keys below: an unknown one is refused, naming its key path
(``models[1].job_name``) and the closest known key, as are values of the wrong shape, URLs that
``mlmon-nb init`` refuses and severities out of order.
Rules, notebook defaults, runbook links and the local stack all take their settings from here.
Relative paths are resolved against the file's folder. A complete example (the demo's,
``stack/mlmon.yaml``)::

    version: 1
    stack:
      state_dir: ../mlmon-state                # configs, TSDB, logs, pids, baselines, runs
      scrape_interval: 15s
      evaluation_interval: 15s
      drift_evaluation_interval: 5m            # the drift rules' own (their 1h windows)
      host: 127.0.0.1                          # the stack binds here
      ports: {prometheus: 19090, alertmanager: 19093, node_exporter: 19100,
              demo: 18000, launcher: 18088, jupyter: 18888,
              # `stack up --backend victoriametrics` only: the store, its two scrape shards,
              # the rule evaluator, and the demo service's second replica
              victoriametrics: 18428, vmagent_0: 18429, vmagent_1: 18430, vmalert: 18880,
              demo_1: 18001}
    # Optional, only for services elsewhere: each URL defaults to http://<host>:<its port>,
    # so moving a port moves its URL. MLMON_PROMETHEUS_URL overrides prometheus_url.
    # prometheus_url: http://prometheus.internal:9090
    # alertmanager_url: http://alertmanager.internal:9093   # the console's silences and alerts
    # launcher_url: https://runbooks.internal   # runbook links and the webhook point here
    # jupyter_url: https://jupyter.internal     # "open in JupyterLab" links
    # runbook_dirs: [my-runbooks]             # <AlertName>.ipynb here override or add to the
    #                                          # shipped runbooks (first folder wins)
    # alerts:                                  # the fleet's: the `for` of every rule of an alert
    #   for: {HighErrorRate: 2m}               # (default: the catalogue's; names checked there)
    models:
      - name: sentiment_classifier
        job: mlmon-demo                        # its Prometheus scrape job (default: the name)
        version: "1.0.0"
        baseline: ""                           # default: <state_dir>/baselines/<name>.json
        low_confidence_threshold: 0.7
        slos:
          period: 30d
          latency: {threshold_seconds: 0.25, objective: 0.99}
          availability: {objective: 0.995}
          accuracy: {objective: 0.85}
          throughput: {min_rps: 0.5, min_share_of_last_week: 0.5}
        alerts:
          error_ratio: {critical: 0.05, warning: 0.02}
          latency_p95_factor: {critical: 2.0, warning: 1.5}
          accuracy_min: 0.70
          low_confidence_share: 0.20
          alpha: 0.05                          # evidence: one-sided significance of the bounds
          min_events: {requests: 10, predictions: 10, ground_truth: 10, feature_values: 30}
        drift:
          ks: {info: 0.10, warning: 0.15, critical: 0.25}
          psi: {info: 0.10, warning: 0.20, critical: 0.25}
          alpha: 0.01

Evidence is a statistic, not a count. A ratio alert (error ratio, accuracy, low-confidence share,
SLO burn) fires when the Wilson score bound of its window's ratio at one-sided significance
``alerts.alpha`` (0.05: 95% confidence) is past the threshold — the lower bound above it, or for
accuracy the upper bound below it — so chance alone is implausible for the window's events;
where the alert's window is too thin, a longer one may give the evidence (30m for the error
ratio, 6h for accuracy, 2h for the low-confidence share). ``alerts.min_events`` is only a floor
for what no statistic fixes: under that many events (10 by default) the bound's approximation is
not trusted. Drift alerts need the statistic above the value chance alone gives for the window's
sample size at significance ``drift.alpha`` (KS: c(α)·sqrt((n+m)/(n·m)); PSI:
χ²₁₋α(bins−1)·(1/n+1/m); n the window's count, m the baseline's) and at least
``min_events.feature_values`` values. LowThroughput compares the last 5 minutes with the same
moment (a 10-minute window around it) of the last four weeks — the quietest of those that have
history — or, in a model's first week, of the last six days: it fires when the rate is under
``min_rps`` and under ``min_share_of_last_week`` of that (under ``min_rps`` alone on a first day).
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Collection, Mapping
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError
from .metrics import model_name_problem

__all__ = [
    "Config",
    "ModelConfig",
    "SLOConfig",
    "AlertThresholds",
    "MinEvents",
    "Thresholds",
    "DEFAULT_KS_THRESHOLDS",
    "DEFAULT_PSI_THRESHOLDS",
    "StackConfig",
    "URL_PORTS",
    "check_url",
    "NODE_JOB",
    "shipped_dir",
    "load_config",
    "parse_config",
    "parse_duration",
    "default_config_path",
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
# An installed wheel carries the clone's runbooks/, notebooks/ and stack/ here (setup.py copies
# them at build time); a clone or an editable install has no such folder and reads the clone's.
PACKAGE_DATA = Path(__file__).resolve().parent / "_shipped"
SHIPPED = ("runbooks", "notebooks", "stack")


def shipped_dir(name: str) -> Path:
    """The folder of the shipped ``runbooks``, ``notebooks`` or ``stack`` files: the wheel's
    copy when installed, else the clone's own (so edits in a clone take effect at once)."""
    if name not in SHIPPED:
        raise ValueError(f"{name!r} is not shipped; shipped folders: {', '.join(SHIPPED)}")
    return PACKAGE_DATA / name if PACKAGE_DATA.is_dir() else REPO_ROOT / name


def _installed() -> bool:
    return PACKAGE_DATA.is_dir()


DEMO_CONFIG = shipped_dir("stack") / "mlmon.yaml"

JOB_PATTERN = r"[A-Za-z0-9_.:/\-]+"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> float:
    """Seconds in a Prometheus-style duration (``90s``, ``5m``, ``1h``, ``30d``) or a number."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ConfigError(f"{text!r} is not a duration; write e.g. 30s, 5m, 1h or 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class Thresholds:
    """Severity thresholds of one drift statistic: above ``info`` is info, and so on."""

    info: float
    warning: float
    critical: float

    def severity(self, value: float) -> str:
        """none / info / warning / critical for a statistic's value."""
        if value != value:  # NaN is not drift; callers flag insufficient data separately
            return "none"
        for name in ("critical", "warning", "info"):
            if value > getattr(self, name):
                return name
        return "none"


# The one definition of the KS and PSI defaults: a model's config starts from them, and so does
# mlmon_nb.drift's registry of tests (which adds the thresholds of its other tests).
DEFAULT_KS_THRESHOLDS = Thresholds(0.10, 0.15, 0.25)
DEFAULT_PSI_THRESHOLDS = Thresholds(0.10, 0.20, 0.25)


@dataclass(frozen=True)
class SLOConfig:
    """A model's service-level objectives over a rolling period."""

    period_seconds: float = 30 * 86400
    latency_threshold_seconds: float = 0.25
    latency_objective: float = 0.99
    availability_objective: float = 0.995
    accuracy_objective: float = 0.85
    throughput_min_rps: float = 0.5
    throughput_min_share_of_last_week: float = 0.5
    cost_per_hour: float | None = None


@dataclass(frozen=True)
class MinEvents:
    """The fewest events an alert's window must hold before the alert may fire: a floor under
    the statistical evidence, where its approximation is not trusted (drift: its sample)."""

    requests: float = 10
    predictions: float = 10
    ground_truth: float = 10
    feature_values: float = 30


@dataclass(frozen=True)
class AlertThresholds:
    """Thresholds of the alert catalogue and the evidence each alert needs."""

    error_ratio_critical: float = 0.05
    error_ratio_warning: float = 0.02
    latency_p95_factor_critical: float = 2.0
    latency_p95_factor_warning: float = 1.5
    accuracy_min: float = 0.70
    low_confidence_share: float = 0.20
    alpha: float = 0.05  # one-sided significance of the ratio alerts' evidence bounds
    min_events: MinEvents = field(default_factory=MinEvents)


@dataclass(frozen=True)
class ModelConfig:
    """One monitored model."""

    name: str
    version: str = ""
    baseline: Path | None = None
    low_confidence_threshold: float = 0.7
    slo: SLOConfig = field(default_factory=SLOConfig)
    alerts: AlertThresholds = field(default_factory=AlertThresholds)
    ks: Thresholds = DEFAULT_KS_THRESHOLDS
    psi: Thresholds = DEFAULT_PSI_THRESHOLDS
    drift_alpha: float = 0.01
    job: str = ""  # the Prometheus scrape job of its service; empty: the model's name

    def __post_init__(self) -> None:
        if not self.job:
            object.__setattr__(self, "job", self.name)


# The node exporter's scrape job. A model's service has its own, `models[].job` (ModelConfig.job):
# the resource notebook, the Resources dashboard and the runbooks read it.
NODE_JOB = "node"

DEFAULT_PORTS = {"prometheus": 19090, "alertmanager": 19093, "node_exporter": 19100,
                 "demo": 18000, "launcher": 18088, "jupyter": 18888,
                 # the victoriametrics backend of the stack (mlmon_nb.stack.backends)
                 "victoriametrics": 18428, "vmagent_0": 18429, "vmagent_1": 18430,
                 "vmalert": 18880, "demo_1": 18001}


@dataclass(frozen=True)
class StackConfig:
    """Where the local stack keeps its state and which loopback ports it uses."""

    # a clone's state sits in it; an installed package's in the working directory
    state_dir: Path = field(default_factory=lambda: (Path.cwd() if _installed() else REPO_ROOT)
                            / "mlmon-state")
    scrape_interval_seconds: float = 15.0
    evaluation_interval_seconds: float = 15.0
    # the drift rules' own interval: their 1h windows over every feature's buckets are what
    # costs at fleet scale, and a 1h statistic needs no 15 s resolution
    drift_evaluation_interval_seconds: float = 300.0
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    host: str = "127.0.0.1"


# the configuration's URLs and the stack component each one defaults to
URL_PORTS = {"prometheus_url": "prometheus", "alertmanager_url": "alertmanager",
             "launcher_url": "launcher", "jupyter_url": "jupyter"}


def _derived_url(stack: StackConfig, component: str) -> str:
    return f"http://{stack.host}:{stack.ports[component]}"


@dataclass(frozen=True)
class Config:
    """The whole configuration.

    An empty URL (the default) is derived from the stack's host and port, so one setting decides
    each address; an explicit URL wins.
    """

    models: tuple[ModelConfig, ...]
    prometheus_url: str = ""
    alertmanager_url: str = ""
    launcher_url: str = ""
    jupyter_url: str = ""
    stack: StackConfig = field(default_factory=StackConfig)
    path: Path | None = None
    runbook_dirs: tuple[Path, ...] = ()  # the user's runbooks, before the shipped ones
    # `alerts.for`: an alert's name -> the `for` of all its rules (the catalogue's otherwise;
    # the catalogue refuses a name it does not have)
    alert_for: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, component in URL_PORTS.items():
            value = getattr(self, key)
            if not isinstance(value, str):
                raise ConfigError(f"{key} must be a URL string, got {type(value).__name__}",
                                  _p(self.path))
            object.__setattr__(self, key, value.rstrip("/") if value
                               else _derived_url(self.stack, component))

    def model(self, name: str) -> ModelConfig:
        """The named model's configuration."""
        for model in self.models:
            if model.name == name:
                return model
        known = ", ".join(m.name for m in self.models) or "none"
        raise ConfigError(f"unknown model {name!r}; configured models: {known}", _p(self.path))

    @property
    def jobs(self) -> tuple[str, ...]:
        """The scrape jobs of the configured models' services, each once, in config order."""
        return tuple(dict.fromkeys(m.job for m in self.models))

    def baseline_path(self, name: str) -> Path:
        """Where the named model's baseline file is (its default lives in the state dir)."""
        model = self.model(name)
        return model.baseline or self.stack.state_dir / "baselines" / f"{name}.json"

    def with_ports(self, ports: dict[str, int], state_dir: Path | None = None) -> Config:
        """The same configuration on other ports (tests pick free ones).

        URLs derived from the old ports follow the new ones; explicit URLs stay."""
        merged = {**self.stack.ports, **ports}
        stack = replace(self.stack, ports=merged, state_dir=state_dir or self.stack.state_dir)
        urls: dict[str, Any] = {key: "" if self.url_is_derived(key) else getattr(self, key)
                                for key in URL_PORTS}
        return replace(self, stack=stack, **urls)

    def url_is_derived(self, key: str) -> bool:
        """Whether the URL ``key`` (of :data:`URL_PORTS`) is its stack component's default on
        these ports, not one the configuration names."""
        return getattr(self, key) == _derived_url(self.stack, URL_PORTS[key])

    def urls(self) -> dict[str, str]:
        """The URLs in use: ``prometheus_url``, ``alertmanager_url``, ``launcher_url``,
        ``jupyter_url``."""
        return {key: getattr(self, key) for key in URL_PORTS}


def _p(path: Path | None) -> str | None:
    return str(path) if path else None


def default_config_path() -> Path:
    """``$MLMON_CONFIG``, else ``./mlmon.yaml``, else the demo's ``stack/mlmon.yaml``."""
    env = os.environ.get("MLMON_CONFIG")
    if env:
        return Path(env)
    local = Path.cwd() / "mlmon.yaml"
    return local if local.exists() else DEMO_CONFIG


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a configuration file (default: see ``default_config_path``)."""
    path = Path(path) if path else default_config_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError("no such configuration file; pass --config or set MLMON_CONFIG",
                          str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", str(path)) from exc
    return parse_config(raw, path)


def parse_config(raw: Any, path: Path | None = None) -> Config:
    """Map an already-parsed YAML document to a :class:`Config` (step two of loading).

    Every mapping is checked against the keys it takes: an unknown key is refused, naming its
    path and the closest known key, never dropped for a default."""
    where = _p(path)
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a YAML mapping", where)
    version = raw.get("version")
    if type(version) is not int or version != SCHEMA_VERSION:  # not True, 1.0 or "1"
        problem = f"version {version!r} is not supported" if "version" in raw else "no version"
        raise ConfigError(f"{problem}; this mlmon_nb reads version {SCHEMA_VERSION}: write "
                          f"`version: {SCHEMA_VERSION}` at the top", where)
    base = path.resolve().parent if path else Path.cwd()
    if base.is_relative_to(PACKAGE_DATA):  # the wheel's demo config: as if in ./stack, so its
        base = Path.cwd() / "stack"       # state (../mlmon-state) is not written into the wheel
    try:
        raw = _keys(raw, "", ("version", "models", "stack", *URL_PORTS, "runbook_dirs", "alerts"))
        listed = raw.get("models") or []
        if not isinstance(listed, list):
            raise ConfigError(f"models must be a list (`- name: my_model` a line), got {listed!r}")
        models = tuple(_model(m, f"models[{i}]", base) for i, m in enumerate(listed))
        if not models:
            raise ConfigError("no models configured; add at least one under `models:`")
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ConfigError(f"model names must be unique: {names}")
        urls = {key: _url(raw.get(key), key) for key in URL_PORTS}  # empty: from the port
        urls["prometheus_url"] = _url(os.environ.get("MLMON_PROMETHEUS_URL"),
                                      "MLMON_PROMETHEUS_URL") or urls["prometheus_url"]
        dirs = raw.get("runbook_dirs") or []
        if not isinstance(dirs, list) or not all(isinstance(d, str) and d for d in dirs):
            raise ConfigError(f"runbook_dirs must be a list of folders, got {dirs!r}")
        return Config(models=models, stack=_stack(raw.get("stack"), base), path=path, **urls,
                      runbook_dirs=tuple((base / d).resolve() for d in dirs),
                      alert_for=_alert_for(raw.get("alerts")))
    except ConfigError as exc:
        if exc.path is None and where:
            raise ConfigError(str(exc), where) from exc
        raise
    except (TypeError, ValueError, KeyError) as exc:  # a shape no check above foresaw
        raise ConfigError(f"malformed configuration: {exc}", where) from exc


def _keys(raw: Any, where: str, known: Collection[str], hint: str = "") -> dict[str, Any]:
    """``raw`` (null: empty) as the mapping at key path ``where``, holding only ``known`` keys.

    The one check of every mapping of the schema: a value of another shape or an unknown key is
    a ConfigError naming its path, with the closest known key the mapping lacks (a misspelling
    stands for a key left out), else the known keys; ``hint`` is appended to the message."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping of {', '.join(known)}, got {raw!r}{hint}")
    for key in raw:
        if key not in known:
            path = f"{where}.{key}" if where else str(key)
            missing = [k for k in known if k not in raw]
            close = difflib.get_close_matches(str(key).replace("-", "_"), missing, 1, 0.5)
            advice = (f"did you mean `{close[0]}`?" if close else
                      f"the known keys{' of ' + where if where else ''}: {', '.join(known)}")
            raise ConfigError(f"unknown key {path}; {advice}{hint}")
    return raw


def _number(raw: Mapping[str, Any], key: str, where: str, default: float) -> float:
    """``raw[key]`` (``default`` when absent) as a finite number."""
    value = raw.get(key, default)
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(f"{where}.{key} must be a number (e.g. {default:g}), got {value!r}")
    return number


def _fraction(raw: Mapping[str, Any], key: str, where: str, default: float, what: str) -> float:
    """``raw[key]`` as a number strictly between 0 and 1: ``what`` it is names it in errors."""
    value = _number(raw, key, where, default)
    if not 0 < value < 1:
        raise ConfigError(f"{where}.{key} is {what} between 0 and 1 (e.g. {default:g}), "
                          f"got {value:g}")
    return value


def _duration(raw: Mapping[str, Any], key: str, where: str, default: str) -> float:
    """``raw[key]`` (``default`` when absent) as a positive, finite duration, in seconds."""
    value = raw.get(key, default)
    try:
        seconds = parse_duration(value)
    except ConfigError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ConfigError(f"{where}.{key} must be a duration such as {default} (or 30s, 1h, "
                          f"7d), got {value!r}")
    return seconds


def _severities(raw: Any, where: str, defaults: Mapping[str, float], worse: str
                ) -> dict[str, float]:
    """The severity mapping at ``where`` (``defaults`` gives its keys, mildest first): a number
    each, rising with severity, since the higher the value, the ``worse`` it is."""
    raw = _keys(raw, where, defaults)
    out = {key: _number(raw, key, where, default) for key, default in defaults.items()}
    for (mild, low), (severe, high) in itertools.pairwise(out.items()):
        if high < low:
            example = ", ".join(f"{k}: {v:g}" for k, v in reversed(list(defaults.items())))
            raise ConfigError(f"{where}.{severe} ({high:g}) is below {where}.{mild} ({low:g}); "
                              f"the higher the value, the {worse}, so {severe} must be at least "
                              f"{mild}: write e.g. {{{example}}}")
    return out


def check_url(flag: str, url: str) -> str:
    """``url`` without its trailing slash; ConfigError naming ``flag`` unless it is http(s)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{flag} {url!r} is not a URL; write it as http://host:port, "
                          f"e.g. http://prometheus.internal:9090")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{flag} {url!r} has a port that is not a number") from None
    # the URLs end up in rule annotations (Go templates), YAML and HTML: refuse what would be
    # reinterpreted there, and credentials (they would be written into rules and pages)
    if re.search(r'[\s"\'<>{}`\\]', url.strip()) or parts.username or parts.password \
            or parts.query or parts.fragment:
        raise ConfigError(f"{flag} {url!r} is not a plain URL: write http(s)://host:port[/path] "
                          f"without spaces, quotes, braces, credentials, query or fragment")
    return url.strip().rstrip("/")


def _url(value: Any, key: str) -> str:
    """A configured URL, checked as ``mlmon-nb init`` checks its flags; null or empty: ""."""
    return check_url(key, str(value)) if value not in (None, "") else ""


def _alert_for(raw: Any) -> dict[str, str]:
    """``alerts: {for: {HighErrorRate: 0s}}``: each alert's ``for`` (a duration)."""
    raw = _keys(raw, "alerts", ("for",), " (the top-level `alerts` holds only `for`: alert name "
                "-> duration, e.g. {HighErrorRate: 0s}; thresholds are per model, under "
                "models[].alerts)")
    out = raw.get("for") or {}
    if not isinstance(out, dict):
        raise ConfigError(f"alerts.for maps alert names to durations (e.g. HighErrorRate: 0s), "
                          f"got {out!r}")
    for name, value in out.items():
        if not re.fullmatch(r"\d+(ms|s|m|h|d|w)", str(value)):
            raise ConfigError(f"alerts.for: {name}'s `for` must be a Prometheus duration "
                              f"(e.g. 0s, 5m, 1h), got {value!r}")
    return {str(name): str(value) for name, value in out.items()}


def _thresholds(raw: Any, where: str, default: Thresholds) -> Thresholds:
    """A drift statistic's thresholds: info <= warning <= critical."""
    return Thresholds(**_severities(raw, where, {f.name: getattr(default, f.name)
                                                 for f in fields(Thresholds)}, "more drift"))


def _model(raw: Any, where: str, base: Path) -> ModelConfig:
    """One entry of ``models``, at key path ``where`` (``models[1]``)."""
    raw = _keys(raw, where, ("name", "job", "version", "baseline", "low_confidence_threshold",
                             "slos", "alerts", "drift"))
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where} needs a `name` (its model_name label), got {name!r}")
    if problem := model_name_problem(name):
        raise ConfigError(f"{where}.name: {problem}")
    job = str(raw.get("job") or name)
    if not re.fullmatch(JOB_PATTERN, job):
        raise ConfigError(f"{where}.job {job!r} must be the scrape job's name as Prometheus "
                          f"shows it (letters, digits and _ . : / -)")
    version = raw.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int))):
        raise ConfigError(f"{where}.version must be a string; quote it (e.g. \"1.10\": YAML "
                          f"reads an unquoted 1.10 as the number 1.1), got {version!r}")
    baseline = raw.get("baseline") or None
    if baseline is not None and not isinstance(baseline, str):
        raise ConfigError(f"{where}.baseline must be a file's path, got {baseline!r}")
    m = ModelConfig(name)
    slo = _slo(raw.get("slos"), f"{where}.slos")
    alerts = _alerts(raw.get("alerts"), f"{where}.alerts")
    if alerts.accuracy_min > slo.accuracy_objective:  # lower is worse: the floor is the critical
        raise ConfigError(f"{where}.alerts.accuracy_min ({alerts.accuracy_min:g}) is above "
                          f"{where}.slos.accuracy.objective ({slo.accuracy_objective:g}); the "
                          f"lower the accuracy, the worse, so LowModelAccuracy's floor must be "
                          f"at most the objective: lower accuracy_min (e.g. 0.7) or raise the "
                          f"objective")
    drift = _keys(raw.get("drift"), f"{where}.drift", ("ks", "psi", "alpha"))
    return ModelConfig(
        name=name,
        version="" if version is None else str(version),
        job=job,
        baseline=(base / baseline).resolve() if baseline else None,
        low_confidence_threshold=_number(raw, "low_confidence_threshold", where,
                                         m.low_confidence_threshold),
        slo=slo,
        alerts=alerts,
        ks=_thresholds(drift.get("ks"), f"{where}.drift.ks", m.ks),
        psi=_thresholds(drift.get("psi"), f"{where}.drift.psi", m.psi),
        drift_alpha=_fraction(drift, "alpha", f"{where}.drift", m.drift_alpha,
                              "a significance level"),
    )


def _slo(raw: Any, where: str) -> SLOConfig:
    """A model's ``slos``: each objective strictly between 0 and 1."""
    raw = _keys(raw, where, ("period", "latency", "availability", "accuracy", "throughput",
                             "cost"))
    d = SLOConfig()
    latency = _keys(raw.get("latency"), f"{where}.latency", ("threshold_seconds", "objective"))
    availability = _keys(raw.get("availability"), f"{where}.availability", ("objective",))
    accuracy = _keys(raw.get("accuracy"), f"{where}.accuracy", ("objective",))
    throughput = _keys(raw.get("throughput"), f"{where}.throughput",
                       ("min_rps", "min_share_of_last_week"))
    cost = _keys(raw.get("cost"), f"{where}.cost", ("per_hour",))
    objective = "an objective"
    return SLOConfig(
        period_seconds=_duration(raw, "period", where, "30d"),
        latency_threshold_seconds=_number(latency, "threshold_seconds", f"{where}.latency",
                                          d.latency_threshold_seconds),
        latency_objective=_fraction(latency, "objective", f"{where}.latency",
                                    d.latency_objective, objective),
        availability_objective=_fraction(availability, "objective", f"{where}.availability",
                                         d.availability_objective, objective),
        accuracy_objective=_fraction(accuracy, "objective", f"{where}.accuracy",
                                     d.accuracy_objective, objective),
        throughput_min_rps=_number(throughput, "min_rps", f"{where}.throughput",
                                   d.throughput_min_rps),
        throughput_min_share_of_last_week=_number(throughput, "min_share_of_last_week",
                                                  f"{where}.throughput",
                                                  d.throughput_min_share_of_last_week),
        cost_per_hour=None if cost.get("per_hour") is None else
        _number(cost, "per_hour", f"{where}.cost", 1.0),
    )


def _alerts(raw: Any, where: str) -> AlertThresholds:
    """A model's ``alerts``: thresholds, and the evidence each alert needs."""
    raw = _keys(raw, where, ("error_ratio", "latency_p95_factor", "accuracy_min",
                             "low_confidence_share", "alpha", "min_events"))
    a = AlertThresholds()
    errors = _severities(raw.get("error_ratio"), f"{where}.error_ratio",
                         {"warning": a.error_ratio_warning, "critical": a.error_ratio_critical},
                         "more requests fail")
    latency = _severities(raw.get("latency_p95_factor"), f"{where}.latency_p95_factor",
                          {"warning": a.latency_p95_factor_warning,
                           "critical": a.latency_p95_factor_critical}, "slower the requests")
    return AlertThresholds(
        error_ratio_critical=errors["critical"],
        error_ratio_warning=errors["warning"],
        latency_p95_factor_critical=latency["critical"],
        latency_p95_factor_warning=latency["warning"],
        accuracy_min=_number(raw, "accuracy_min", where, a.accuracy_min),
        low_confidence_share=_number(raw, "low_confidence_share", where, a.low_confidence_share),
        alpha=_fraction(raw, "alpha", where, a.alpha, "a significance level"),
        min_events=_min_events(raw.get("min_events"), f"{where}.min_events"),
    )


def _min_events(raw: Any, where: str) -> MinEvents:
    """A model's ``alerts.min_events``: counts of 0 or more."""
    d = MinEvents()
    raw = _keys(raw, where, [f.name for f in fields(MinEvents)])
    out = MinEvents(**{k: _number(raw, k, where, getattr(d, k)) for k in raw})
    if any(getattr(out, f.name) < 0 for f in fields(MinEvents)):
        raise ConfigError(f"{where} must be counts of 0 or more, got {out}")
    return out


def _port(value: Any, where: str) -> int:
    """A TCP port number."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ConfigError(f"{where} must be a port number from 1 to 65535, got {value!r}")
    return value


def _stack(raw: Any, base: Path) -> StackConfig:
    """The ``stack`` section; ``MLMON_STATE_DIR`` overrides its ``state_dir``."""
    raw = _keys(raw, "stack", ("state_dir", "host", "scrape_interval", "evaluation_interval",
                               "drift_evaluation_interval", "ports"))
    ports = {key: _port(value, f"stack.ports.{key}")
             for key, value in _keys(raw.get("ports"), "stack.ports", DEFAULT_PORTS).items()}
    state, host = raw.get("state_dir"), raw.get("host", "127.0.0.1")
    if state is not None and not isinstance(state, str):
        raise ConfigError(f"stack.state_dir must be a folder's path, got {state!r}")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"stack.host must be a host name or address (e.g. 127.0.0.1), "
                          f"got {host!r}")
    env_state = os.environ.get("MLMON_STATE_DIR")
    return StackConfig(
        state_dir=Path(env_state).resolve() if env_state else
        ((base / state).resolve() if state else StackConfig().state_dir),
        scrape_interval_seconds=_duration(raw, "scrape_interval", "stack", "15s"),
        evaluation_interval_seconds=_duration(raw, "evaluation_interval", "stack", "15s"),
        drift_evaluation_interval_seconds=_duration(raw, "drift_evaluation_interval", "stack",
                                                    "5m"),
        ports={**DEFAULT_PORTS, **ports},
        host=host,
    )
