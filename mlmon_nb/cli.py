"""The ``mlmon-nb`` command: one subcommand group per area, each a thin call into the library.

Every group is added by an ``_add_<group>(subparsers)`` function that sets ``func`` on its
parsers; ``main`` turns an :class:`~mlmon_nb.errors.MlmonError` into one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MlmonError
from .stack.demo.faults import KINDS

if TYPE_CHECKING:
    from .estimated.calibration import Calibration

__all__ = ["main", "build_parser", "extra_for"]

DESCRIPTION = ("Monitor machine learning models with Prometheus: rules and alerts, drift and SLO "
               "queries, and runbooks that run when an alert fires.")


# import names whose distribution is named otherwise
_DISTRIBUTIONS = {"yaml": "pyyaml", "multipart": "python_multipart"}
# the extra each command is installed with
_COMMAND_EXTRAS = {"stack": "stack", "demo": "stack", "grafana": "stack", "launcher": "launcher",
                   "run": "launcher"}


def _extras() -> dict[str, set[str]]:
    """Each extra of this package -> the normalized distribution names it installs (nested
    extras expanded)."""
    from importlib.metadata import PackageNotFoundError, requires
    try:
        requirements = requires("mlmon_nb") or []
    except PackageNotFoundError:
        return {}
    direct: dict[str, set[str]] = {}
    for text in requirements:
        spec, _, marker = text.partition(";")
        if "extra" not in marker:
            continue
        extra = marker.split("extra")[1].strip(" =\"'")
        name = spec.strip()
        for sep in "<>=!~ ":
            name = name.split(sep)[0]
        if name.startswith("mlmon_nb["):  # a nested extra: mlmon_nb[notebooks,launcher]
            direct.setdefault(extra, set()).update(f"[{e}]" for e in name[9:-1].split(","))
        else:
            direct.setdefault(extra, set()).add(name.split("[")[0].lower().replace("-", "_"))

    def expand(extra: str) -> set[str]:
        return {n for item in direct.get(extra, ()) for n in
                (expand(item[1:-1]) if item.startswith("[") else {item})}
    return {extra: expand(extra) for extra in direct}


def extra_for(module: str, command: str = "") -> str:
    """The extra to install for ``module`` (``dask`` → ``scale``): ``command``'s own extra when
    that includes it, else the smallest extra that does; "" when none does."""
    top = module.split(".")[0].lower()
    wanted = _DISTRIBUTIONS.get(top, top).replace("-", "_")
    having = {extra: names for extra, names in _extras().items() if wanted in names}
    if _COMMAND_EXTRAS.get(command) in having:
        return _COMMAND_EXTRAS[command]
    return min(having, key=lambda extra: len(having[extra]), default="")


def _config(args):
    # imported here like every subcommand's module: a base install (instrumentation only) has
    # no PyYAML, and `main` then names the extra to install instead of failing at import
    from .config import load_config
    return load_config(getattr(args, "config", None))


def _add_generate(actions, help: str, write) -> argparse.ArgumentParser:
    """A ``generate`` action: ``write(config, folder)`` the files into ``-o`` (default: the
    configuration file's folder)."""
    gen = actions.add_parser("generate", help=help)
    gen.add_argument("-o", "--out", type=Path, default=None,
                     help="target folder (default: the configuration file's folder; the demo's "
                          "is stack/ of this repository)")
    gen.set_defaults(func=lambda args: _generate(args, write))
    return gen


def _out_dir(config) -> Path:
    """Where generated files go by default: beside the configuration file (the demo's: the
    clone's stack/); an installed package's own demo configuration: ./stack."""
    from .config import PACKAGE_DATA
    folder = Path(config.path).resolve().parent if config.path else Path.cwd()
    return Path.cwd() / "stack" if folder.is_relative_to(PACKAGE_DATA) else folder


def _generate(args, write) -> int:
    config = _config(args)
    for path in write(config, args.out or _out_dir(config)):
        print(f"wrote {path}")
    return 0


# -- stack --------------------------------------------------------------------------------------

def _add_stack(sub) -> None:
    p = sub.add_parser("stack", help="start, stop and inspect the local stack")
    s = p.add_subparsers(dest="action", required=True)
    up = s.add_parser("up", help="start every component in the background (idempotent)")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for health")
    up.add_argument("--backend", choices=["prometheus", "victoriametrics"], default=None,
                    help="prometheus (default), or VictoriaMetrics with two vmagent shards, "
                         "vmalert and two demo replicas (default: what the stack runs now)")
    up.set_defaults(func=_stack_up)
    s.add_parser("down", help="stop exactly what `stack up` started").set_defaults(func=_stack_down)
    s.add_parser("status", help="each component and whether it is healthy").set_defaults(
        func=_stack_status)
    logs = s.add_parser("logs", help="the tail of a component's log")
    logs.add_argument("component", nargs="?", default=None)
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.set_defaults(func=_stack_logs)


def _stack_up(args) -> int:
    from .stack.lifecycle import Stack
    stack = Stack(_config(args), backend=args.backend)
    stack.up(timeout=args.timeout)
    print(stack.format_status())
    return 0


def _stack_down(args) -> int:
    from .stack.lifecycle import Stack
    stopped = Stack(_config(args)).down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _stack_status(args) -> int:
    from .stack.lifecycle import Stack
    stack = Stack(_config(args))
    statuses = stack.status()
    print(stack.format_status(statuses))
    return 0 if all(s.healthy for s in statuses) else 1


def _stack_logs(args) -> int:
    from .stack.lifecycle import Stack
    print(Stack(_config(args)).logs(args.component, args.lines))
    return 0


# -- demo ---------------------------------------------------------------------------------------

def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the demo: model service, traffic, history, faults")
    s = p.add_subparsers(dest="action", required=True)
    up = s.add_parser("up", help="baseline, 7 days of history, the stack, a first notebook")
    up.add_argument("--days", type=float, default=7.0, help="days of history to synthesize")
    up.add_argument("--timeout", type=float, default=90.0)
    up.add_argument("--models", type=int, default=1,
                    help="a fleet of this many demo models (default 1); their configuration is "
                         "written to <state_dir>/mlmon.fleet.yaml")
    up.set_defaults(func=_demo_up)
    inj = s.add_parser("inject", help="inject a fault into the demo traffic")
    inj.add_argument("kind", choices=[*KINDS, "clear"])
    inj.add_argument("--for", dest="duration", default=None,
                     help="how long, e.g. 90s, 10m, 1h (default 10m, or what is left of the "
                          "same fault already running longer)")
    inj.add_argument("--model", default=None,
                     help="one model of a demo fleet (demo up --models N); default: all")
    inj.set_defaults(func=_demo_inject)
    serve = s.add_parser("serve", help="run the demo model service in the foreground")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=_demo_serve)
    traffic = s.add_parser("traffic", help="run the traffic generator in the foreground")
    traffic.add_argument("--url", default=None, help="the demo service's URL")
    traffic.add_argument("--rps", type=float, default=5.0)
    traffic.add_argument("--duration", default=None, help="stop after this long (default: never)")
    traffic.set_defaults(func=_demo_traffic)


def _demo_up(args) -> int:
    from .stack.demo.bootstrap import demo_up
    return demo_up(_config(args), days=args.days, timeout=args.timeout, models=args.models)


def _demo_inject(args) -> int:
    from .config import parse_duration
    from .stack.demo.faults import fault_line, inject
    from .stack.lifecycle import Stack
    cfg = _config(args)
    seconds = None if args.duration is None else parse_duration(args.duration)
    for url in Stack(cfg).replica_urls():  # every replica of the demo service
        state = inject(url, args.kind, seconds, args.model)
        print(fault_line(args.kind, state, url, args.model))
    return 0


def _demo_serve(args) -> int:
    from .stack.demo.service import serve
    cfg = _config(args)
    serve(cfg, port=args.port or cfg.stack.ports["demo"])
    return 0


def _demo_traffic(args) -> int:
    from .config import parse_duration
    from .stack.demo.traffic import run_traffic
    cfg = _config(args)
    url = args.url or f"http://{cfg.stack.host}:{cfg.stack.ports['demo']}"
    run_traffic(url, rps=args.rps,
                duration=parse_duration(args.duration) if args.duration else None)
    return 0


# -- run ----------------------------------------------------------------------------------------

def _add_run(sub) -> None:
    p = sub.add_parser("run", help="execute a runbook or notebook into the run store")
    p.add_argument("notebook", help="a runbook path (runbooks/X.ipynb), an alert name, or a notebook")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="a parameter; repeat for more. Times (start, end, starts_at) take "
                        "ISO-8601, unix seconds or now, now-2h, now-30m. An unknown model or "
                        "feature is refused before anything runs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import nh3  # noqa: F401  the run's page needs it: a missing extra is refused before a run

    from .runbooks import run_from_cli
    return run_from_cli(_config(args), args.notebook, dict(args.parameter),
                        progress=not args.no_progress)


# -- baseline -----------------------------------------------------------------------------------

def _add_baseline(sub) -> None:
    p = sub.add_parser("baseline", help="build and inspect training baselines")
    s = p.add_subparsers(dest="action", required=True)
    b = s.add_parser("build", help="build a baseline file from training data of any size "
                                   "(parquet or CSV files, a glob, or a DuckDB query), streamed")
    b.add_argument("data", nargs="*", help="training data: files, globs ('data/*.parquet') or "
                                           "directories of .parquet or .csv files")
    b.add_argument("--sql", default=None,
                   help="a DuckDB query giving the training rows instead of files, e.g. "
                        "\"SELECT * FROM 'data/*.parquet' WHERE split = 'train'\"")
    b.add_argument("--model", required=True, help="the model's name")
    b.add_argument("--categorical", default="", help="categorical columns, comma-separated")
    b.add_argument("--prediction", default=None, help="column with the predicted class")
    b.add_argument("--confidence", default=None, help="column with the prediction confidence")
    b.add_argument("--label", default=None,
                   help="column with the true label: the baseline then carries the confidences' "
                        "reliability curve, for the estimated accuracy (needs --prediction and "
                        "--confidence)")
    b.add_argument("--scores", default="",
                   help="every class's score column, comma-separated (a multiclass model's "
                        "probabilities): the curve then also weighs how the other classes share "
                        "the rest (needs --label; the service records them with scores=)")
    b.add_argument("--exclude", default="", help="columns to leave out, comma-separated")
    b.add_argument("--bins", type=int, default=20, help="quantile bins per numeric feature")
    b.add_argument("--top-k", type=int, default=None, help="categories kept per feature")
    b.add_argument("--variance", type=float, default=0.65,
                   help="share of the numeric features' variance the joint structure's "
                        "components keep, for the multivariate check (0: no joint structure)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("-o", "--output", type=Path, required=True, help="where to write the file")
    b.set_defaults(func=_baseline_build)
    show = s.add_parser("show", help="summarize a baseline file")
    show.add_argument("path", type=Path)
    show.set_defaults(func=_baseline_show)


def _baseline_build(args) -> int:
    from .baseline.build import build_from_dataset, build_from_query
    split = lambda text: [c.strip() for c in text.split(",") if c.strip()]  # noqa: E731
    options = dict(categorical=split(args.categorical), prediction=args.prediction,
                   confidence=args.confidence, label=args.label, scores=split(args.scores),
                   exclude=split(args.exclude),
                   bins=args.bins, variance=args.variance or None,
                   progress=not args.no_progress and sys.stderr.isatty())
    if args.top_k is not None:
        options["top_k"] = args.top_k
    if bool(args.sql) == bool(args.data):
        raise MlmonError("give training data files or --sql QUERY (one of the two)")
    base = (build_from_query(args.sql, args.model, **options) if args.sql else
            build_from_dataset(args.data[0] if len(args.data) == 1 else args.data, args.model,
                               **options))
    path = base.save(args.output)
    print(f"baseline {base.baseline_id} for {base.model_name}: {len(base.numeric)} numeric, "
          f"{len(base.categorical)} categorical features from {base.n_rows} rows"
          + (f", calibrated on {base.calibration.n} labelled rows" if base.calibration else "")
          + (" with their class scores" if base.calibration
             and base.calibration.purity_sums is not None else "")
          + (_temperature(base.calibration) if base.calibration else "")
          + (f", joint structure of {_count(len(base.multivariate.components), 'component')} "
             f"on {base.multivariate.n} rows" if base.multivariate else "")
          + f" → {path}")
    cal = base.calibration
    if cal is not None and cal.purity_sums is None and cal.classes > 2:
        print(f"note: a {cal.classes}-class model calibrated without its class scores: the "
              f"estimated accuracy cannot see how the other classes share the rest of each "
              f"prediction (about 1.5 points off on a 10-class model under shift); give every "
              f"class's probability column with --scores, and record them in the service with "
              f"record_prediction(..., scores=)", file=sys.stderr)
    return 0


def _temperature(calibration: Calibration) -> str:
    """The curve's temperature in words, where one was kept."""
    kind = calibration.miscalibration
    return f" ({kind})" if kind else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _baseline_show(args) -> int:
    from .baseline import Baseline
    base = Baseline.load(args.path)
    print(f"baseline {base.baseline_id} · model {base.model_name} · {base.n_rows} rows · "
          f"created {base.created_at} · source {base.source or '-'}")
    print(base.describe().to_string(index=False))
    return 0


# -- launcher -----------------------------------------------------------------------------------

def _add_launcher(sub) -> None:
    p = sub.add_parser("launcher", help="serve runbook links, the Alertmanager webhook and runs")
    p.add_argument("--port", type=int, default=None, help="default: the config's launcher port")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--workers", type=int, default=2, help="runs executing at once")
    p.add_argument("--warm-kernels", type=int, default=2, help="kernels kept ready")
    p.add_argument("--run-timeout", default="10m", help="per-run timeout, e.g. 90s, 10m")
    p.add_argument("--drain-timeout", default="30s",
                   help="at SIGTERM, wait this long for running runs (queued ones stay queued)")
    p.add_argument("--lease", default="30s",
                   help="a run whose launcher stops renewing its lease is retaken after this")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME[:PORT]",
                   help="also answer this Host (e.g. a reverse proxy's name); repeatable")
    p.add_argument("--protect-reads", action="store_true",
                   help="run pages need the token too (or $MLMON_LAUNCHER_READ_TOKEN[_FILE])")
    p.set_defaults(func=_launcher)


def _launcher(args) -> int:
    from .config import parse_duration
    from .launcher import LauncherSettings, serve
    # what the launcher decides (runs queued, webhooks refused, leases taken over) goes to
    # stderr, one line each; uvicorn's own access log stays off
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = LauncherSettings(workers=args.workers, warm_kernels=args.warm_kernels,
                                run_timeout=parse_duration(args.run_timeout),
                                drain_timeout=parse_duration(args.drain_timeout),
                                lease_seconds=parse_duration(args.lease),
                                allowed_hosts=tuple(args.allow_host),
                                protect_reads=args.protect_reads)
    serve(_config(args), port=args.port, host=args.host, settings=settings)
    return 0


# -- rules --------------------------------------------------------------------------------------

def _add_rules(sub) -> None:
    p = sub.add_parser("rules", help="generate and check Prometheus rules and Alertmanager routing")
    s = p.add_subparsers(dest="action", required=True)
    gen = _add_generate(s, "write rules/*.yml and alertmanager.yml from the config, or their "
                        "Kubernetes resources", _write_rules)
    gen.add_argument("--format", choices=("files", "prometheus-operator"), default="files",
                     help="files: rules/*.yml and alertmanager.yml (default); prometheus-operator:"
                          " PrometheusRule, ServiceMonitor, PodMonitor, AlertmanagerConfig and "
                          "dashboard ConfigMaps with a kustomization.yaml, into -o DIR")
    k8s = gen.add_argument_group("--format prometheus-operator")
    k8s.add_argument("--namespace", default="monitoring", help="of every resource (monitoring)")
    k8s.add_argument("--name-prefix", default="mlmon",
                     help="of every resource's name, e.g. mlmon-alerts (mlmon)")
    k8s.add_argument("--selector-label", action="append", metavar="KEY=VALUE",
                     help="a label on every resource, for the Prometheus and Alertmanager "
                          "resources' selectors (release=kube-prometheus-stack); repeatable")
    k8s.add_argument("--target-label", action="append", metavar="KEY=VALUE",
                     help="a label of the model services' Services or Pods "
                          "(app.kubernetes.io/part-of=mlmon); repeatable")
    k8s.add_argument("--target-namespace", action="append", default=[], metavar="NS",
                     help="where the model services run (default: --namespace); repeatable")
    k8s.add_argument("--metrics-port", default="metrics",
                     help="the name of the services' metrics port (metrics)")
    k8s.add_argument("--job", default=None,
                     help="the one scrape job of the model services (default: the models' "
                          "`job` in the configuration where they share one, which the "
                          "dashboards' $service_job reads)")
    k8s.add_argument("--job-label", default=None, metavar="KEY",
                     help="read each service's job from this label of its Service or Pod "
                          "(default where the models' jobs differ: app.kubernetes.io/name)")
    k8s.add_argument("--scrape", choices=("service", "pod"), default="service",
                     help="which monitor the kustomization lists: ServiceMonitor or PodMonitor")
    k8s.add_argument("--webhook-url", default="",
                     help="the launcher's Alertmanager webhook (default: "
                          "http://PREFIX-launcher.NAMESPACE.svc/alertmanager)")
    k8s.add_argument("--webhook-token-secret", default="mlmon-launcher-token:token",
                     metavar="NAME[:KEY]", help="the Secret holding the webhook's bearer token "
                     "(mlmon-launcher-token:token); '' for none")
    gen.set_defaults(func=_rules_generate)
    chk = s.add_parser("check", help="promtool/amtool checks, and whether the files are stale")
    chk.add_argument("-d", "--dir", "-o", "--out", dest="dir", type=Path, default=None,
                     help="folder with rules/ and alertmanager.yml (default: the configuration "
                          "file's folder)")
    chk.add_argument("--vmalert", action="store_true",
                     help="also `vmalert -dryRun` the rules (the victoriametrics backend)")
    chk.set_defaults(func=_rules_check)


def _demo_baseline(config) -> None:
    """The demo model's baseline is built deterministically, so its drift rules are reproducible."""
    from .stack.demo.model import MODEL_NAME
    if any(m.name == MODEL_NAME for m in config.models) and not config.baseline_path(
            MODEL_NAME).exists():
        from .stack.demo.bootstrap import build_demo_baseline
        build_demo_baseline(config.baseline_path(MODEL_NAME))


def _launcher_snippet(config) -> str:
    from .rules.alertmanager import receivers_from_env, render_launcher_snippet
    token = receivers_from_env().get("webhook_token_file")
    return render_launcher_snippet(config, webhook_token_file=token)


def _stale_snippet(config, directory: Path) -> list[str]:
    """The launcher's Alertmanager snippet, when written and no longer what generation gives."""
    from .rules.alertmanager import SNIPPET_FILE
    path = Path(directory) / SNIPPET_FILE
    return [SNIPPET_FILE] if path.exists() and path.read_text() != _launcher_snippet(config) else []


def _clone_of(folder) -> Path | None:
    """The clone ``folder`` is in, when it is in this package's clone (its runbooks' headers and
    docs/alerts.md are generated from the catalogue too); None for an installed package."""
    from .config import PACKAGE_DATA, REPO_ROOT
    inside = Path(folder).resolve().is_relative_to(REPO_ROOT)
    return REPO_ROOT if inside and not PACKAGE_DATA.is_dir() else None


def _write_rules(config, folder):
    from .rules.alertmanager import SNIPPET_FILE
    from .rules.files import write_generated
    _demo_baseline(config)
    written = write_generated(config, folder)
    snippet = Path(folder) / SNIPPET_FILE  # the launcher's receiver and route, for your own
    snippet.write_text(_launcher_snippet(config))
    clone = _clone_of(folder)
    if clone is not None:
        from .runbooks.headers import write_headers
        written += write_headers(clone)
    return [*written, snippet]


def _rules_generate(args) -> int:
    if args.format == "files":
        return _generate(args, _write_rules)
    if args.out is None:
        from .errors import RulesError
        raise RulesError("--format prometheus-operator writes a folder of manifests: name it "
                         "with -o DIR (e.g. -o deploy/mlmon), then `kubectl apply -k DIR`")
    return _generate(args, lambda config, folder: _write_kubernetes(config, folder, args))


def _write_kubernetes(config, folder, args):
    from .kubernetes import KubernetesOptions, Scrape, SecretKey, parse_labels
    from .kubernetes.files import monitor_options, write_manifests
    defaults = KubernetesOptions()
    options = KubernetesOptions(
        namespace=args.namespace, name_prefix=args.name_prefix,
        selector_labels=(parse_labels(args.selector_label, "--selector-label")
                         if args.selector_label else defaults.selector_labels),
        target_labels=(parse_labels(args.target_label, "--target-label")
                       if args.target_label else defaults.target_labels),
        target_namespaces=tuple(args.target_namespace), metrics_port=args.metrics_port,
        job=args.job or defaults.job, job_label=args.job_label or defaults.job_label,
        scrape_interval=f"{config.stack.scrape_interval_seconds:g}s", scrape=Scrape(args.scrape),
        webhook_url=args.webhook_url,
        webhook_token=(SecretKey.parse(args.webhook_token_secret)
                       if args.webhook_token_secret else None))
    _demo_baseline(config)
    options = monitor_options(config, options)
    written = write_manifests(config, folder, options)
    if label := options.job_label:
        why = "The models run on different scrape jobs: t" if len(set(config.jobs)) > 1 else "T"
        print(f"{why}he monitors read each service's job from its label {label}. Label each "
              f"model's Service (or Pod) with its job: "
              + ", ".join(f"{label}: {m.job} ({m.name})" for m in config.models))
    return written


def _rules_check(args) -> int:
    from .rules.files import check_files, stale_files
    config = _config(args)
    directory = args.dir or _out_dir(config)
    for report in check_files(directory, vmalert=args.vmalert):
        print(report)
    _demo_baseline(config)
    stale = stale_files(config, directory) + _stale_snippet(config, directory)
    clone = _clone_of(directory)
    if clone is not None:
        from .runbooks.headers import stale_headers
        stale += stale_headers(clone)
    missing = [(m.name, m.baseline) for m in config.models
               if m.baseline is not None and not m.baseline.is_file()]
    for name, path in missing:
        print(f"missing: the baseline of {name}, {path}, is not a file: drift reruns and its "
              f"runbooks need it; build it with `mlmon-nb baseline build DATA --model {name} "
              f"-o {path}` or fix `baseline:` in {config.path or 'the configuration'}",
              file=sys.stderr)
    if stale:
        print(f"stale: {', '.join(stale)} differ from a fresh generation; run "
              f"`mlmon-nb rules generate`", file=sys.stderr)
    if stale or missing:
        return 1
    print(f"{directory}: rules and routing are valid and up to date")
    return 0


# -- init ---------------------------------------------------------------------------------------

def _add_init(sub) -> None:
    p = sub.add_parser("init", help="write mlmon.yaml for your own models, Prometheus and "
                                    "Alertmanager (asks for what the flags leave out)")
    p.add_argument("--prometheus-url", default=None, help="e.g. http://prometheus.internal:9090")
    p.add_argument("--alertmanager-url", default=None, help="e.g. http://alertmanager:9093")
    p.add_argument("--launcher-url", default=None,
                   help="where Alertmanager reaches the runbook launcher (default "
                        "http://127.0.0.1:18088; a loopback URL's port is the launcher's port)")
    p.add_argument("--model", action=_ModelAction, metavar="NAME",
                   help="a model's name (its model_name label); repeat for more")
    p.add_argument("--job", action=_ModelAction, metavar="JOB",
                   help="the scrape job of the service serving the model: right after its "
                        "--model, or one per model in --model order (default: the model's name)")
    p.add_argument("--baseline", action=_ModelAction, metavar="PATH",
                   help="the model's baseline file (`mlmon-nb baseline build`): right after its "
                        "--model, or one per model in --model order")
    p.add_argument("--scrape-interval", default=None,
                   help="your Prometheus's scrape interval, which the rules are built for (15s)")
    p.add_argument("--state-dir", default="mlmon-state",
                   help="runs, logs and default baselines, relative to the file (mlmon-state)")
    p.add_argument("-o", "--output", type=Path, default=Path("mlmon.yaml"),
                   help="the file to write (mlmon.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=_init)


class _ModelAction(argparse.Action):
    """--model/--job/--baseline in command-line order (an "append" per flag loses it), paired by
    :func:`_pair_models` once every flag is read."""

    def __call__(self, parser, namespace, value, option_string=None):
        namespace.model_flags = [*getattr(namespace, "model_flags", []), (self.dest, value)]


def _pair_models(flags: list[tuple[str, str]]) -> list[tuple[str, str | None, str | None]]:
    """Each --model with its --job and --baseline (None where not given): a --job or --baseline
    belongs to the --model before it; as many of them in a row as the --model flags before
    them pair with those in order (`--model a --model b --job ja --job jb`)."""
    models: list[str] = []
    given: dict[str, dict[int, str]] = {"job": {}, "baseline": {}}
    group: list[int] = []  # the run of --model flags the next --job/--baseline run follows
    runs: list[tuple[str, list[str]]] = []
    for dest, value in flags:
        if runs and runs[-1][0] == dest:
            runs[-1][1].append(value)
        else:
            runs.append((dest, [value]))
    for dest, values in runs:
        if dest == "model":
            group = list(range(len(models), len(models) + len(values)))
            models += values
            continue
        if not group:
            raise MlmonError(f"--{dest} {values[0]!r} comes before any --model; write --model "
                             f"NAME first")
        if len(values) == 1 or len(values) != len(group):
            if len(values) > 1:
                raise MlmonError(
                    f"model {models[group[-1]]!r} has two --{dest}" if len(group) == 1 else
                    f"{len(values)} --{dest} follow {len(group)} --model: give one per model in "
                    f"--model order, or each right after its --model")
            targets = [group[-1]]
        else:
            targets = group
        for i, value in zip(targets, values):
            if i in given[dest]:
                raise MlmonError(f"model {models[i]!r} has two --{dest}")
            given[dest][i] = value
    return [(name, given["job"].get(i), given["baseline"].get(i))
            for i, name in enumerate(models)]


def _ask(flag: str, question: str, default: str | None = None) -> str:
    """A missing flag's value: asked on a terminal, else an error naming the flag."""
    if not sys.stdin.isatty():
        if default is not None:
            return default
        raise MlmonError(f"init needs {flag} (no terminal to ask on)")
    try:
        answer = input(f"{question}{f' [{default}]' if default else ''}: ").strip()
    except EOFError:
        raise MlmonError(f"init needs {flag}; the input ended before it was entered") from None
    if not answer and default is None:
        raise MlmonError(f"init needs {flag}; nothing was entered")
    return answer or (default or "")


def _init(args) -> int:
    from .initialize import InitAnswers, ModelAnswer, render_init_config
    if args.output.exists() and not args.force:
        raise MlmonError(f"{args.output} exists; pass --force to overwrite it, or -o another file")
    paired = (_pair_models(getattr(args, "model_flags", []))
              or [(_ask("--model", "Model name (its model_name label)"), None, None)])
    models = []
    for name, job, baseline in paired:
        if job is None:
            job = _ask("--job", f"Scrape job of {name}'s service", name)
        if baseline is None:
            baseline = _ask("--baseline", f"Baseline file of {name} (empty: none yet)", "")
        models.append(ModelAnswer(name, job, baseline))
    defaults = InitAnswers("", "", ())
    answers = InitAnswers(
        prometheus_url=args.prometheus_url or _ask("--prometheus-url", "Prometheus URL"),
        alertmanager_url=args.alertmanager_url or _ask("--alertmanager-url", "Alertmanager URL"),
        launcher_url=args.launcher_url or _ask("--launcher-url", "Launcher URL",
                                               defaults.launcher_url),
        scrape_interval=args.scrape_interval or _ask("--scrape-interval", "Scrape interval",
                                                     defaults.scrape_interval),
        models=tuple(models), state_dir=args.state_dir)
    text = render_init_config(answers)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}; next: mlmon-nb --config {args.output} rules generate -o DIR")
    return 0


# -- query --------------------------------------------------------------------------------------

def _add_query(sub) -> None:
    p = sub.add_parser("query", help="an instant or range PromQL query, printed as a table")
    p.add_argument("promql")
    p.add_argument("--url", default=None, help="Prometheus URL (default: the configuration's)")
    p.add_argument("--start", default=None, help="range start, e.g. now-6h (omit: instant)")
    p.add_argument("--end", default="now")
    p.add_argument("--step", default="5m")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(func=_query)


def _query(args) -> int:
    from .prom import Prometheus
    prom = Prometheus(args.url or _config(args).prometheus_url, timeout=args.timeout)
    frame = (prom.range(args.promql, args.start, args.end, args.step) if args.start
             else prom.query(args.promql))
    print(frame.to_string(index=False) if not frame.empty else "(no data)")
    return 0


# -- grafana ------------------------------------------------------------------------------------

def _add_grafana(sub) -> None:
    p = sub.add_parser("grafana", help="Grafana dashboards and the docker-compose stack's files")
    s = p.add_subparsers(dest="action", required=True)
    _add_generate(s, "write stack/grafana/** and stack/prometheus.yml", _write_grafana)


def _write_grafana(config, folder):
    from .stack.grafana import write_files
    return write_files(config, folder)


# -- main ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlmon-nb", description=DESCRIPTION,
        epilog="Start with `mlmon-nb demo up` (the bundled demo) or `mlmon-nb init` (your own "
               "models); `mlmon-nb <command> --help` says more.")
    parser.add_argument("--config", type=Path, default=None,
                        help="mlmon.yaml (default: $MLMON_CONFIG, ./mlmon.yaml, the demo's)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_init, _add_stack, _add_demo, _add_run, _add_rules, _add_query, _add_launcher,
                _add_baseline, _add_grafana):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MlmonError as exc:
        print(f"mlmon-nb: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a base install: the command's extra is missing
        if (exc.name or "mlmon_nb").startswith("mlmon_nb"):
            raise
        extra = extra_for(exc.name or "", args.command)
        print(f"mlmon-nb: {args.command} needs {exc.name}, which is not installed; install "
              f"the extra that has it: pip install 'mlmon_nb[{extra or 'all'}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
