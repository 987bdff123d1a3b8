"""Grafana dashboards and the docker-compose stack: generation, structure, and every panel's
PromQL executed against real backends.

Panels on contract metrics run against the fixture history in Prometheus and VictoriaMetrics.
Panels on recording rules run with the rules inlined (their expressions from the committed rule
files, static labels added), because backfilled history was never evaluated by the rules.
Resource panels (node exporter, process collector) run against a live node exporter scraped by a
short-lived Prometheus: the synthetic history has no such series, and real ones are better
evidence than synthesized ones.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard as GrafanaDashboard
from promql_inline import inline

from mlmon_nb import Prometheus
from mlmon_nb.binaries import find_binary
from mlmon_nb.cli import main
from mlmon_nb.config import load_config
from mlmon_nb.stack import grafana

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stack"
DEMO = load_config(STACK / "mlmon.yaml")
DASHBOARDS = grafana.dashboards(DEMO)
RESOURCES = "mlmon-resources"


# -- generation ----------------------------------------------------------------------------------

def test_committed_files_equal_a_fresh_generation():
    stale = grafana.stale_files(DEMO, STACK)
    assert stale == [], f"{stale} are stale: run `mlmon-nb grafana generate`"


def test_cli_generates_and_staleness_notices_an_edit(tmp_path, capsys):
    assert main(["--config", str(STACK / "mlmon.yaml"), "grafana", "generate", "-o",
                 str(tmp_path)]) == 0
    assert "system-health.json" in capsys.readouterr().out
    assert grafana.stale_files(DEMO, tmp_path) == []
    path = tmp_path / "grafana" / "dashboards" / "drift.json"
    path.write_text(path.read_text().replace("KS statistic", "KS"))
    (tmp_path / "prometheus.yml").unlink()
    assert grafana.stale_files(DEMO, tmp_path) == ["grafana/dashboards/drift.json", "prometheus.yml"]


# -- the dashboards' structure -------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{?(\w+)")
_SUBSTITUTE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _targets(model: dict):
    for panel in model["panels"]:
        for target in panel["targets"]:
            yield panel, target


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_dashboard_model_is_well_formed(dashboard):
    model = grafana.dashboard_json(dashboard, DEMO)
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids)) > 0
    cells = set()
    for panel in model["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"]
    defined = {v["name"] for v in model["templating"]["list"]}
    assert defined == {"datasource", *grafana.VARIABLES}
    for panel, target in _targets(model):
        used = set(_VARIABLE.findall(target["expr"]))
        assert used <= defined | {"__rate_interval", "__range"}, (panel["title"], used)
        assert "model_name" in used or panel["title"].startswith(("Service", "Node", "Disk"))
    assert (REPO / "notebooks" / f"{dashboard.notebook}.ipynb").exists()
    assert model["templating"]["list"][1]["current"]["value"] == DEMO.models[0].name


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_dashboard_model_round_trips_through_the_sdk_types(dashboard):
    """The committed JSON decodes into the Grafana Foundation SDK's typed model and encodes back
    to itself: no field the SDK's types do not know, no value of the wrong kind."""
    model = grafana.dashboard_json(dashboard, DEMO)
    typed = GrafanaDashboard.from_json(model)
    assert json.loads(JSONEncoder().encode(typed)) == model
    path = STACK / "grafana" / "dashboards" / f"{dashboard.uid.removeprefix('mlmon-')}.json"
    assert json.loads(path.read_text()) == model


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_panels_show_legends_and_reduce_to_the_last_value(dashboard):
    """The SDK's defaults hide a time series' legend and reduce stats by nothing; every panel
    here sets what the page needs."""
    model = grafana.dashboard_json(dashboard, DEMO)
    for panel, spec in zip(model["panels"], dashboard.panels):
        assert panel["type"] == spec.kind and panel["title"] == spec.title
        assert [t["expr"] for t in panel["targets"]] == [expr for expr, _ in spec.targets]
        options = panel["options"]
        if spec.kind == "timeseries":
            assert options["legend"]["showLegend"] is True, panel["title"]
        if spec.kind in ("stat", "bargauge"):
            assert options["reduceOptions"]["calcs"] == ["lastNotNull"], panel["title"]
        assert all(t["instant"] is spec.instant and t["range"] is not spec.instant
                   for t in panel["targets"])


def test_dashboards_have_the_notebooks_pages_and_uids_are_unique():
    uids = [d.uid for d in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    assert {"system_health", "model_quality", "resources", "drift", "slo_report"} == {
        d.notebook for d in DASHBOARDS}


# -- every panel's PromQL returns data -----------------------------------------------------------

_RECORD = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*)(\{[^}]*\})?")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


@functools.cache  # read once: every panel target of both backends inlines the same rules
def _recording_rules() -> tuple[dict, ...]:
    return tuple(rule for path in sorted((STACK / "rules").glob("*.yml"))
                 for group in yaml.safe_load(path.read_text())["groups"]
                 for rule in group["rules"] if "record" in rule)


def _one_rule_each(promql: str, rules) -> str:
    """``promql`` with each reference that selects several rules of one name (one per SLO, told
    apart by a static label) written as the union of one reference per rule."""
    by_record: dict[str, list] = {}
    for rule in rules:
        by_record.setdefault(rule["record"], []).append(rule)

    def replace(match: re.Match) -> str:
        name, selector = match.group(1), match.group(2) or ""
        wanted = {label: value for label, op, value in _MATCHER.findall(selector) if op == "="}
        chosen = [rule for rule in by_record.get(name, [])
                  if all(rule.get("labels", {}).get(k, v) == v for k, v in wanted.items())]
        if len(chosen) < 2:
            return match.group(0)
        body = selector[1:-1].strip()
        parts = []
        for rule in chosen:
            extra = ",".join(f'{k}="{v}"' for k, v in rule["labels"].items() if k not in wanted)
            parts.append(f"{name}{{{body + ',' if body else ''}{extra}}}")
        return "(" + " or ".join(parts) + ")"

    return _RECORD.sub(replace, promql)


def inline_recording_rules(promql: str, rules) -> str:
    """``promql`` with every recorded series it reads replaced by its rule's expression
    (:func:`promql_inline.inline`); a panel reading every SLO's series reads each one's rule."""
    return inline(_one_rule_each(promql, rules), rules)


def test_inline_recording_rules():
    rules = [{"record": "a:b:c", "expr": "vector(1)", "labels": {"slo": "x"}},
             {"record": "a:b:c", "expr": "x:y:z * 2", "labels": {"slo": "y"}},
             {"record": "x:y:z", "expr": "sum by (model_name) (up)"}]
    assert _one_rule_each('a:b:c{model_name="m"} + a:b:c{slo="y"}', rules) == \
        '(a:b:c{model_name="m",slo="x"} or a:b:c{model_name="m",slo="y"}) + a:b:c{slo="y"}'
    out = inline_recording_rules('a:b:c{model_name="m"}', rules)
    assert out.count("label_replace") == 2 and 'up{model_name="m"}' in out
    with pytest.raises(ValueError, match="not a recording rule"):
        inline_recording_rules("q:r", rules)


def _substitute(expr: str, **values: str) -> str:
    values = {"__rate_interval": "5m", "__range": "6h", "model_name": DEMO.models[0].name,
              **grafana.VARIABLES, **values}
    values["model_name"] = values["model_name"] or DEMO.models[0].name
    values["service_job"] = values["service_job"] or DEMO.models[0].job  # the dashboards' default
    return _SUBSTITUTE.sub(lambda m: values[m.group(1) or m.group(2)], expr)


def _all_targets(include_resources: bool):
    for dashboard in DASHBOARDS:
        if (dashboard.uid == RESOURCES) != include_resources:
            continue
        model = grafana.dashboard_json(dashboard, DEMO)
        for panel, target in _targets(model):
            yield f"{dashboard.uid}/{panel['title']}/{target['refId']}", target


def _returns_data(prom: Prometheus, target: dict, end: float, **values: str) -> int:
    expr = inline_recording_rules(_substitute(target["expr"], **values), _recording_rules())
    frame = (prom.query(expr, end) if target["instant"]
             else prom.range(expr, end - 6 * 3600, end, 300))
    return int(frame["value"].notna().sum())


def test_every_history_panel_returns_data(backend, history):
    prom = Prometheus(backend.url, timeout=60)
    end = history.end - 60
    empty = [name for name, target in _all_targets(include_resources=False)
             if _returns_data(prom, target, end) == 0]
    assert empty == [], f"panels without data on {backend.name}: {empty}"


def test_drift_panels_show_the_drift_incident(prometheus, history):
    """Not just data: the KS panel crosses the critical threshold during the drift incident."""
    prom = Prometheus(prometheus, timeout=60)
    start, end = history.incidents["drift"]
    (target,) = [t for name, t in _all_targets(False) if name.startswith("mlmon-drift/KS")]
    expr = inline_recording_rules(_substitute(target["expr"]), _recording_rules())
    assert prom.query(expr, end - 60)["value"].max() > DEMO.models[0].ks.critical
    assert prom.query(expr, start - 3 * 3600)["value"].max() < DEMO.models[0].ks.warning


def test_resource_panels_on_live_node_exporter(live_stack):
    """Prometheus's own process metrics stand in for the service's (the same collector)."""
    prom = Prometheus(live_stack.url("prometheus"), timeout=30)
    at = prom.scalar("time()")
    empty = []
    for name, target in _all_targets(include_resources=True):
        if "In-flight" in name:
            continue  # the service's gauge: covered by the history test on system health
        expr = _substitute(target["expr"], service_job="prometheus", __rate_interval="10s")
        frame = prom.range(expr, at - 60, at, 5)
        if frame["value"].notna().sum() == 0:
            empty.append(name)
    assert empty == []


# -- docker compose (Docker does not run here: structure only) ---------------------------------

COMPOSE = yaml.safe_load((STACK / "docker-compose.yml").read_text())


def _flag(service: dict, name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in service.get("command", [])
                if str(arg).startswith(f"--{name}=")]
    return value


def test_compose_services_images_and_ports():
    services = COMPOSE["services"]
    assert {"prometheus", "alertmanager", "grafana", "demo", "launcher", "node-exporter",
            "traffic"} <= set(services)
    ports, host = DEMO.stack.ports, DEMO.stack.host
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image"
        if "build" in service:
            build = service["build"]
            assert (STACK / build["context"] / build["dockerfile"]).is_file()
        if name != "baseline":
            assert service["network_mode"] == "host", name  # the generated 127.0.0.1 targets
    assert _flag(services["prometheus"], "web.listen-address") == f"{host}:{ports['prometheus']}"
    assert _flag(services["alertmanager"], "web.listen-address") == \
        f"{host}:{ports['alertmanager']}"
    assert _flag(services["node-exporter"], "web.listen-address") == \
        f"{host}:{ports['node_exporter']}"
    assert services["demo"]["command"][-1] == str(ports["demo"])
    assert services["launcher"]["command"][-1] == str(ports["launcher"])
    assert services["traffic"]["command"][-1] == f"http://{host}:{ports['demo']}"
    assert services["grafana"]["environment"]["GF_SERVER_HTTP_ADDR"] == host


def _binds(service: dict) -> dict[str, str]:
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            out[target] = source
    return out


def test_compose_mounts_the_committed_generated_files():
    services, named = COMPOSE["services"], set(COMPOSE["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (STACK / source).exists(), f"{name} mounts {source}, which is not committed"
            elif not source.startswith("/"):
                assert source in named, f"{name}: undeclared volume {source}"
    prom = _binds(services["prometheus"])
    assert prom["/etc/prometheus/prometheus.yml"] == "./prometheus.yml"
    assert prom["/etc/prometheus/rules"] == "./rules"  # rule_files: rules/*.yml, relative
    assert _flag(services["prometheus"], "config.file") == "/etc/prometheus/prometheus.yml"
    am = _binds(services["alertmanager"])
    assert am[_flag(services["alertmanager"], "config.file")] == "./alertmanager.yml"
    graf = _binds(services["grafana"])
    assert graf["/etc/grafana/provisioning"] == "./grafana/provisioning"
    assert graf[grafana.DASHBOARDS_PATH] == "./grafana/dashboards"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (STACK / "grafana" / "dashboards" / Path(home).name).is_file()
    dockerfile = (STACK / "Dockerfile").read_text()
    allowed = {line[1:] for line in (STACK / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")}
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies {source}, which is missing"
                assert source.rstrip("/") in allowed, f"{source} is not in the build context"


def test_compose_prometheus_config_passes_promtool():
    """promtool reads the compose prometheus.yml and the rule files it names (stack/rules)."""
    result = subprocess.run([find_binary("promtool"), "check", "config",
                             str(STACK / "prometheus.yml")],
                            capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{len(list((STACK / 'rules').glob('*.yml')))} rule files found" in output
