"""Grafana dashboards and the docker-compose stack's generated files, from the configuration.

The dashboards are the notebooks' pages for teams that run Grafana: system health, model
quality, resources, drift and SLOs. Every panel's PromQL comes from :mod:`mlmon_nb.queries` (raw
contract metrics) or selects (:mod:`mlmon_nb.promql`) the recording rules named in
:mod:`mlmon_nb.promql.names` and :mod:`mlmon_nb.drift`, with Grafana variables in place of the
model and the window (``$model_name``, ``$__rate_interval``, ``$__range``, ``$service_job``,
``$node_job``), so the notebooks and the dashboards ask the same questions the same way.

The dashboard model is built with the Grafana Foundation SDK's typed builders (panels, queries,
variables, links), so a misspelled option or a wrong enum is a type error rather than a field
Grafana silently ignores; :class:`Panel` and :class:`Dashboard` keep the page's content as data.

:func:`render_files` returns every generated file (dashboard JSON, Grafana provisioning, and the
``prometheus.yml`` that ``stack/docker-compose.yml`` mounts) keyed by its path under ``stack/``;
``mlmon-nb grafana generate`` writes them and a test fails when the committed ones are stale.
Thresholds are the configuration's first model's (the ``model_name`` variable's default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    GraphTresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from .. import drift, promql
from .. import metrics as m
from .. import queries as q
from ..config import NODE_JOB as NODE_SCRAPE_JOB
from ..config import REPO_ROOT, Config, ModelConfig
from ..promql.names import ERROR_BUDGET_REMAINING, SLO_OBJECTIVE, slo_error_ratio
from ..slo.rules import period as slo_period
from .lifecycle import render_prometheus_config

__all__ = [
    "Panel",
    "Dashboard",
    "DATASOURCE_UID",
    "DASHBOARDS_PATH",
    "VARIABLES",
    "dashboards",
    "dashboard_json",
    "dashboard_files",
    "render_files",
    "write_files",
    "stale_files",
]

DATASOURCE_UID = "mlmon-prometheus"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards"  # where compose mounts stack/grafana/dashboards
_DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
MODEL, RATE, RANGE = "$model_name", "$__rate_interval", "$__range"
SERVICE_JOB, NODE_JOB = "$service_job", "$node_job"
# The dashboard variables besides Grafana's own ($__rate_interval, $__range) and their defaults;
# $service_job offers the configured models' scrape jobs (`models[].job`), the first one chosen.
VARIABLES = {"model_name": "", "service_job": "", "node_job": NODE_SCRAPE_JOB}


@dataclass(frozen=True)
class Panel:
    """One panel: its kind (timeseries, stat, bargauge, table), queries and display."""

    title: str
    targets: tuple[tuple[str, str], ...]  # (PromQL, legend format)
    kind: str = "timeseries"
    unit: str = "short"
    description: str = ""
    thresholds: tuple[tuple[str, float | None], ...] = ()  # (color, from value), first is None
    instant: bool = False
    width: int = 12
    height: int = 8
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: uid, title, the notebook it mirrors, and its panels."""

    uid: str
    title: str
    notebook: str
    panels: tuple[Panel, ...]
    description: str = ""
    tags: tuple[str, ...] = field(default=("mlmon",))


def _steps(*pairs: tuple[str, float | None]) -> tuple[tuple[str, float | None], ...]:
    return tuple(pairs)


def _upper(warning: float, critical: float) -> tuple[tuple[str, float | None], ...]:
    """Green below ``warning``, yellow to ``critical``, red above."""
    return _steps(("green", None), ("yellow", warning), ("red", critical))


def _lower(critical: float, warning: float) -> tuple[tuple[str, float | None], ...]:
    """Red below ``critical``, yellow to ``warning``, green above (higher is better)."""
    return _steps(("red", None), ("yellow", critical), ("green", warning))


def _system_health(model: ModelConfig) -> Dashboard:
    slo, alerts = model.slo, model.alerts
    p95_warn = slo.latency_threshold_seconds
    p95_crit = slo.latency_threshold_seconds * alerts.latency_p95_factor_warning
    latency = tuple((expr, key) for key, expr in q.latency_quantiles(MODEL, RATE).items())
    return Dashboard("mlmon-system-health", "mlmon · System health", "system_health", (
        Panel("Request rate", ((q.request_rate(MODEL, "5m"), "requests/s"),), "stat", "reqps",
              f"Requests per second over 5m; throughput SLO ≥ {slo.throughput_min_rps:g}/s.",
              _lower(slo.throughput_min_rps, slo.throughput_min_rps), width=6, height=5),
        Panel("Error ratio", ((q.error_ratio(MODEL, "5m"), "errors"),), "stat", "percentunit",
              "Share of failed requests over 5m against the alert thresholds.",
              _upper(alerts.error_ratio_warning, alerts.error_ratio_critical), width=6, height=5),
        Panel("Latency P95", ((q.latency_quantile(0.95, MODEL, "5m"), "p95"),), "stat", "s",
              f"P95 over 5m against the latency SLO ({p95_warn * 1000:g} ms).",
              _upper(p95_warn, p95_crit), width=6, height=5),
        Panel("Accuracy (1h)", ((q.accuracy(MODEL, "1h"), "accuracy"),), "stat", "percentunit",
              "Share of ground-truth-labelled predictions that were correct over 1h.",
              _lower(alerts.accuracy_min, slo.accuracy_objective), width=6, height=5),
        Panel("Request rate", ((q.request_rate(MODEL, RATE, by=("endpoint",)), "{{endpoint}}"),),
              unit="reqps"),
        Panel("Error ratio", ((q.error_ratio(MODEL, RATE), "error ratio"),), unit="percentunit",
              thresholds=_upper(alerts.error_ratio_warning, alerts.error_ratio_critical)),
        Panel("Latency P50 / P95 / P99", latency, unit="s",
              thresholds=_upper(p95_warn, p95_crit)),
        Panel("Accuracy (1h)", ((q.accuracy(MODEL, "1h"), "accuracy"),), unit="percentunit",
              thresholds=_lower(alerts.accuracy_min, slo.accuracy_objective), minimum=0, maximum=1),
        Panel("Throughput", ((q.throughput(MODEL, RATE), "predictions/s"),), unit="reqps"),
        Panel("In-flight requests", ((q.in_flight(MODEL), "in flight"),)),
    ), "Healthy or not in five seconds: the notebook system_health.ipynb as a dashboard.")


def _model_quality(model: ModelConfig) -> Dashboard:
    slo, alerts = model.slo, model.alerts
    return Dashboard("mlmon-model-quality", "mlmon · Model quality", "model_quality", (
        Panel("Predicted class share", ((q.class_share(MODEL, RATE), "{{predicted_class}}"),),
              unit="percentunit", minimum=0, maximum=1),
        Panel("Confidence histogram (range)", ((q.confidence_buckets(MODEL, RANGE), "≤ {{le}}"),),
              "bargauge", description="Cumulative count of predictions at or under each "
              "confidence edge over the dashboard's range.", instant=True),
        Panel("Low-confidence share", ((q.low_confidence_share(MODEL, RATE), "low confidence"),),
              unit="percentunit",
              thresholds=_upper(alerts.low_confidence_share, alerts.low_confidence_share)),
        Panel("Accuracy per segment (1h)",
              ((q.accuracy(MODEL, "1h", by=("segment",)), "{{segment}}"),), unit="percentunit",
              thresholds=_lower(alerts.accuracy_min, slo.accuracy_objective), minimum=0, maximum=1),
        Panel("Labelled predictions per segment (range)",
              ((q.ground_truth_count(MODEL, RANGE, by=("segment",)), "{{segment}}"),), "bargauge",
              description="The sample size behind accuracy.", instant=True),
        Panel("Model version and baseline", ((q.model_info(MODEL), ""),), "table", instant=True),
    ), "Predictions, confidence and accuracy: the notebook model_quality.ipynb as a dashboard.")


def _resources(model: ModelConfig) -> Dashboard:
    return Dashboard("mlmon-resources", "mlmon · Resources", "resources", (
        Panel("Service CPU (cores)", ((q.process_cpu(SERVICE_JOB, RATE), "{{instance}}"),)),
        Panel("Service resident memory", ((q.process_memory(SERVICE_JOB), "{{instance}}"),),
              unit="bytes"),
        Panel("Node CPU busy", ((q.node_cpu(NODE_JOB, RATE), "{{instance}}"),),
              unit="percentunit", minimum=0, maximum=1),
        Panel("Node memory used", ((q.node_memory(NODE_JOB), "{{instance}}"),),
              unit="percentunit", minimum=0, maximum=1),
        Panel("Disk used", ((q.node_disk(NODE_JOB), "{{mountpoint}}"),), unit="percentunit",
              thresholds=_upper(0.8, 0.9), minimum=0, maximum=1),
        Panel("In-flight requests", ((q.in_flight(MODEL), "in flight"),)),
    ), "CPU, memory, disk and in-flight requests: the notebook resources.ipynb as a dashboard.")


def _drift(model: ModelConfig) -> Dashboard:
    ks, psi = model.ks, model.psi
    sel = {"model_name": MODEL}
    return Dashboard("mlmon-drift", "mlmon · Drift", "drift", (
        Panel("KS statistic per feature (1h vs baseline)",
              ((promql.selector(drift.expressions.KS_RULE, **sel), "{{feature}}"),),
              thresholds=_steps(("green", None), ("blue", ks.info), ("yellow", ks.warning),
                                ("red", ks.critical))),
        Panel("PSI per feature (1h vs baseline)",
              ((promql.selector(drift.expressions.PSI_RULE, **sel), "{{feature}}"),),
              thresholds=_steps(("green", None), ("blue", psi.info), ("yellow", psi.warning),
                                ("red", psi.critical))),
        Panel("Concept drift: PSI of the prediction confidence (1h)",
              ((promql.selector(drift.expressions.CONCEPT_PSI_RULE, **sel), "predictions"),),
              thresholds=_upper(psi.warning, psi.critical)),
        Panel("Invalid feature values",
              ((q.invalid_feature_rate(MODEL, RATE, by=("feature", "reason")),
                "{{feature}} {{reason}}"),),
              unit="reqps"),
    ), "Drift against the training baseline, from the recording rules: drift.ipynb's bands.")


def _burn(window: str) -> str:
    ratio = promql.selector(slo_error_ratio(window), model_name=MODEL)
    objective = promql.selector(SLO_OBJECTIVE, model_name=MODEL)
    return f"{ratio} / on (model_name, slo) (1 - {objective})"


def _slo(model: ModelConfig) -> Dashboard:
    period = slo_period(model)
    sel = {"model_name": MODEL}
    return Dashboard("mlmon-slo", "mlmon · SLOs and error budgets", "slo_report", (
        Panel(f"Error budget remaining ({period})",
              ((promql.selector(ERROR_BUDGET_REMAINING, **sel), "{{slo}}"),), "stat",
              "percentunit", "Share of the period's error budget left, per SLO.",
              _lower(0.0, 0.25), instant=True, width=24, height=5),
        Panel("Burn rate (1h)", ((_burn("1h"), "{{slo}}"),),
              description="How fast the budget burns: 1 spends it exactly over the period.",
              thresholds=_upper(6.0, 14.4)),
        Panel("Burn rate (6h)", ((_burn("6h"), "{{slo}}"),), thresholds=_upper(3.0, 6.0)),
        Panel(f"Bad-event ratio ({period})",
              ((promql.selector(slo_error_ratio(period), **sel), "{{slo}}"),),
              unit="percentunit", width=24),
    ), "Compliance and burn rates from the SLO recording rules: slo_report.ipynb as a dashboard.")


def dashboards(config: Config) -> list[Dashboard]:
    """Every dashboard for ``config`` (thresholds from its first model)."""
    model = config.models[0]
    return [build(model) for build in (_system_health, _model_quality, _resources, _drift, _slo)]


# -- the dashboard model, built with the Grafana Foundation SDK ---------------------------------

def _layout(panels: Iterable[Panel]) -> list[GridPos]:
    """Left-to-right, top-to-bottom grid positions on Grafana's 24-column grid."""
    x = y = row_height = 0
    out = []
    for panel in panels:
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        out.append(GridPos(h=panel.height, w=panel.width, x=x, y=y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return out


_REDUCE_LAST = (lambda: common.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))


def _visualization(panel: Panel) -> Any:
    """The typed builder of ``panel.kind`` with that kind's display options."""
    if panel.kind == "timeseries":
        builder: Any = (timeseries.Panel()
                        .legend(common.VizLegendOptions().show_legend(True)
                                .display_mode(LegendDisplayMode.LIST)
                                .placement(LegendPlacement.BOTTOM))
                        .tooltip(common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI)
                                 .sort(SortOrder.NONE)))
        if panel.thresholds:
            builder.thresholds_style(
                common.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.LINE))
        return builder
    if panel.kind == "stat":
        return (stat.Panel().color_mode(BigValueColorMode.BACKGROUND)
                .graph_mode(BigValueGraphMode.AREA).text_mode(BigValueTextMode.AUTO)
                .reduce_options(_REDUCE_LAST()))
    if panel.kind == "bargauge":
        return (bargauge.Panel().orientation(VizOrientation.HORIZONTAL)
                .display_mode(BarGaugeDisplayMode.GRADIENT).reduce_options(_REDUCE_LAST()))
    if panel.kind == "table":
        return table.Panel().show_header(True)
    raise ValueError(f"unknown panel kind {panel.kind!r}")  # a programming error, not input


def _panel(panel: Panel, panel_id: int, grid: GridPos) -> Any:
    builder = (_visualization(panel).id(panel_id).title(panel.title).description(panel.description)
               .datasource(_DS).grid_pos(grid).unit(panel.unit))
    if panel.thresholds:
        builder.thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
            [Threshold(color=color, value=value) for color, value in panel.thresholds]))
    if panel.minimum is not None:
        builder.min(panel.minimum)
    if panel.maximum is not None:
        builder.max(panel.maximum)
    for i, (expr, legend) in enumerate(panel.targets):
        query = (prometheus.Dataquery().ref_id(chr(ord("A") + i)).datasource(_DS).expr(expr)
                 .legend_format(legend))
        query = query.instant() if panel.instant else query.range()
        if panel.kind == "table":
            query.format(PromQueryFormat.TABLE)
        builder.with_target(query)
    return builder


def _variables(model: ModelConfig, jobs: tuple[str, ...]) -> list[Any]:
    model_query = f"label_values({m.MODEL_INFO.sample}, model_name)"

    def custom(name: str, label: str, *values: str) -> Any:
        return (dashboard.CustomVariable(name).label(label).values(",".join(values))
                .current(VariableOption(text=values[0], value=values[0]))
                .options([VariableOption(text=v, value=v, selected=i == 0)
                          for i, v in enumerate(values)]))

    return [
        dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        .current(VariableOption(text="Prometheus", value=DATASOURCE_UID)),
        dashboard.QueryVariable("model_name").label("Model").datasource(_DS)
        .query({"query": model_query, "refId": "model_name"})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
        .current(VariableOption(text=model.name, value=model.name)),
        custom("service_job", "Service job", model.job, *(j for j in jobs if j != model.job)),
        custom("node_job", "Node job", VARIABLES["node_job"]),
    ]


def dashboard_json(board: Dashboard, config: Config) -> dict[str, Any]:
    """The Grafana dashboard model of ``board``, built with the SDK's typed builders."""
    builder = (dashboard.Dashboard(board.title).uid(board.uid).description(board.description)
               .tags(list(board.tags)).timezone("utc").version(1).editable()
               .tooltip(DashboardCursorSync.CROSSHAIR).refresh("1m").time("now-6h", "now")
               .link(dashboard.DashboardLink("mlmon dashboards").type(DashboardLinkType.DASHBOARDS)
                     .tags(["mlmon"]).as_dropdown(True).include_vars(True).keep_time(True))
               .link(dashboard.DashboardLink(f"Open {board.notebook}.ipynb in JupyterLab")
                     .type(DashboardLinkType.LINK).target_blank(True)
                     .url(f"{config.jupyter_url}/lab/tree/notebooks/{board.notebook}.ipynb")))
    for variable in _variables(config.models[0], config.jobs):
        builder.with_variable(variable)
    for i, (panel, grid) in enumerate(zip(board.panels, _layout(board.panels))):
        builder.with_panel(_panel(panel, i + 1, grid))
    return json.loads(JSONEncoder().encode(builder.build()))


# -- files ---------------------------------------------------------------------------------------

def _source(config: Config) -> str:
    if config.path is None:
        return "the configuration"
    path = Path(config.path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _yaml(header: str, doc: Any) -> str:
    return header + yaml.safe_dump(doc, sort_keys=False)


def dashboard_files(config: Config) -> dict[str, str]:
    """Each dashboard's JSON text by file name (``system-health.json``, ...)."""
    return {f"{d.uid.removeprefix('mlmon-')}.json":
            json.dumps(dashboard_json(d, config), indent=2, ensure_ascii=False) + "\n"
            for d in dashboards(config)}


def render_files(config: Config) -> dict[str, str]:
    """Every generated file of the compose stack, keyed by its path under ``stack/``.

    ``grafana/dashboards/*.json``, ``grafana/provisioning/{datasources,dashboards}/mlmon.yml``
    and ``prometheus.yml`` (the stack's scrape config, :func:`mlmon_nb.stack.render_prometheus_config`,
    whose ``127.0.0.1`` targets hold because every compose service uses the host's network).
    """
    header = f"# Generated by `mlmon-nb grafana generate` from {_source(config)}; do not edit.\n"
    files = {f"grafana/dashboards/{name}": text for name, text in dashboard_files(config).items()}
    files["grafana/provisioning/datasources/mlmon.yml"] = _yaml(header, {
        "apiVersion": 1,
        "datasources": [{"name": "Prometheus", "uid": DATASOURCE_UID, "type": "prometheus",
                         "access": "proxy", "isDefault": True,
                         # the compose Prometheus, not $MLMON_PROMETHEUS_URL's
                         "url": f"http://{config.stack.host}:{config.stack.ports['prometheus']}",
                         "jsonData": {"timeInterval":
                                      f"{config.stack.scrape_interval_seconds:g}s"}}]})
    files["grafana/provisioning/dashboards/mlmon.yml"] = _yaml(header, {
        "apiVersion": 1,
        "providers": [{"name": "mlmon", "folder": "mlmon", "type": "file",
                       "disableDeletion": True, "allowUiUpdates": False,
                       "options": {"path": DASHBOARDS_PATH}}]})
    files["prometheus.yml"] = header + render_prometheus_config(
        config, [c for c in ("prometheus", "alertmanager", "node_exporter", "demo", "launcher")])
    return files


def write_files(config: Config, directory: str | Path) -> list[Path]:
    """Write :func:`render_files` under ``directory`` (the repository's ``stack/``)."""
    written = []
    for name, text in render_files(config).items():
        path = Path(directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def stale_files(config: Config, directory: str | Path) -> list[str]:
    """Generated files under ``directory`` that differ from a fresh generation (names only)."""
    directory = Path(directory)
    return sorted(name for name, text in render_files(config).items()
                  if not (directory / name).exists() or (directory / name).read_text() != text)
