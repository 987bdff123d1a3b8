"""Writes runbooks/<AlertName>.ipynb, one per alert of the catalogue, without outputs.

Run ``python runbooks/_generate.py`` after editing; tests fail when the committed notebooks differ
from a fresh generation. Every runbook shares one ``parameters`` cell (alert labels map to
parameters by name) and stays thin: the logic is in ``mlmon_nb.investigate``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

PARAMETERS = '''\
model_name: str = "sentiment_classifier"  # the model the alert is about
prometheus_url: str = ""  # empty: $MLMON_PROMETHEUS_URL, else the config's
start: str = ""  # ISO-8601; empty: an hour before starts_at, else end - window
end: str = ""  # ISO-8601; empty: now
window: str = "6h"  # used when start and starts_at are empty
step: str = ""  # empty: automatic
baseline_path: str = ""  # empty: the model's configured baseline
severity: str = ""  # alert labels, by name
feature: str = ""
slo: str = ""
long_window: str = ""
short_window: str = ""
starts_at: str = ""  # the alert's startsAt
alertname: str = "{alert}"'''

OPEN = '''\
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
rate = inv.rate
t = inv.thresholds'''

WHAT_CHANGED = ("## What changed\nModel versions and baselines seen in the incident window and "
                "before.", "inv.what_changed()")

RED = '''\
red = inv.compare({
    "error ratio": lambda r: q.error_ratio(model_name, r),
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
    "p95 latency (s)": lambda r: q.latency_quantile(0.95, model_name, r),
})
red'''

# alert -> (title, what the alert means, cells after the header); a cell is code, or
# ("markdown", "code") for a heading followed by code.
RUNBOOKS: dict[str, tuple[str, str, list]] = {}

_ERRORS = [
    "inv.require_data()",
    ("## The incident window against the days before", RED),
    'inv.plot({"error ratio": q.error_ratio(model_name, rate)}, title="Error ratio",\n'
    "         threshold={threshold})",
    ("## Errors by type", 'by_type = inv.breakdown(q.error_rate(model_name, rate, by=["error_type"]),'
     ' "error_type")\nby_type'),
    WHAT_CHANGED,
    'inv.plot({"requests": q.request_rate(model_name, rate)}, title="Request rate", unit="/s")',
    ("## Verdict", 'top = by_type.index[0] if len(by_type) else "unknown"\n'
     'inv.conclude(red, "error ratio", fmt="{:.2%}", notes=(f"most errors are {top}",))'),
]


def _errors(threshold: str) -> list:
    cells = [c.replace("{threshold}", threshold) if isinstance(c, str) else
             tuple(x.replace("{threshold}", threshold) for x in c) for c in _ERRORS]
    cells.insert(1, f'inv.check_still_firing(iv.Condition("the 5m error ratio",\n'
                    f'    q.error_ratio(model_name, "5m"), {threshold}))')
    return cells


RUNBOOKS["HighErrorRate"] = (
    "High error rate", "More than the critical share of requests fail (error ratio above "
    "`error_ratio.critical`, 5% by default, for 5 minutes).", _errors("t.error_ratio_critical"))
RUNBOOKS["ElevatedErrorRate"] = (
    "Elevated error rate", "More than the warning share of requests fail (2% by default, for 10 "
    "minutes).", _errors("t.error_ratio_warning"))

RUNBOOKS["HighLatencyP95"] = (
    "High P95 latency", "The 95th percentile of request duration is above a multiple of the "
    "latency SLO threshold (critical 2×, warning 1.5×).", [
        "inv.require_data()",
        'factor = t.latency_p95_factor_critical if severity == "critical" else '
        "t.latency_p95_factor_warning\n"
        "limit = factor * inv.ctx.model.slo.latency_threshold_seconds\n"
        'inv.check_still_firing(iv.Condition("the 5m P95 latency (s)",\n'
        '    q.latency_quantile(0.95, model_name, "5m"), limit))',
        ("## The incident window against the days before", '''\
lat = inv.compare({
    "p95 latency (s)": lambda r: q.latency_quantile(0.95, model_name, r),
    "p50 latency (s)": lambda r: q.latency_quantile(0.5, model_name, r),
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
    "in flight": lambda r: q.in_flight(model_name),
})
lat'''),
        "inv.plot(q.latency_quantiles(model_name, rate), title=\"Latency quantiles\", "
        "threshold=limit, unit=\"s\")",
        WHAT_CHANGED,
        ("## Verdict", 'load = lat.loc["request rate (/s)", "change ×"]\n'
         'inv.conclude(lat, "p95 latency (s)", notes=(\n'
         '    "traffic rose with it" if load == load and load > 1.5 else '
         '"traffic did not explain it",))'),
    ])

RUNBOOKS["MLServiceDown"] = (
    "Model service down", "Prometheus cannot scrape the model service (`up == 0`).", [
        'inv.check_still_firing(iv.Condition("the demo job\'s up",\n'
        '    f"max(up{{job=\\"{q.DEMO_JOB}\\"}}) or vector(0)", 1, above=False))',
        ("## Traffic served before and during", '''\
served = inv.compare({"request rate (/s)": lambda r: q.request_rate(model_name, r)})
served'''),
        'inv.plot({"up": f"max(up{{job=\\"{q.DEMO_JOB}\\"}})", '
        '"requests": q.request_rate(model_name, rate)}, title="Scrape health and traffic")',
        WHAT_CHANGED,
        ("## Verdict", 'inv.conclude(served, "request rate (/s)", notes=(\n'
         '    "check the service log with `mlmon-nb stack logs demo`",))'),
    ])

RUNBOOKS["DataDriftDetected"] = (
    "Data drift", "An input feature's distribution moved away from the training baseline "
    "(binned KS above the configured threshold for 1 hour).", [
        "inv.require_data()",
        ("## Drift rerun against the training baseline", "drift = inv.drift_table()\ndrift"),
        'ks_limit = inv.ctx.model.ks.critical if severity == "critical" else '
        "inv.ctx.model.ks.warning\n"
        'watched = feature if feature in drift.index else (drift.index[0] if len(drift) else "")\n'
        'inv.check_still_firing(iv.Condition(f"the binned KS of {watched or \'every feature\'}",'
        ' "", ks_limit),\n'
        '                       value=float(drift.loc[watched, "ks"]) if watched else '
        'float("nan"))',
        ("## Input features against the days before", '''\
inputs = inv.compare({
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
    "invalid feature values (/s)": inv.invalid_rate,
})
inputs'''),
        WHAT_CHANGED,
        ("## Verdict", 'inv.summary(f"{watched} drifted: binned KS {drift.loc[watched, \'ks\']:.3f}, '
         'PSI {drift.loc[watched, \'psi\']:.3f} over the incident window "\n'
         '            f"({drift.loc[watched, \'ks severity\']}); most drifted feature: "\n'
         '            f"{drift.index[0]}.")'),
    ])

RUNBOOKS["ConceptDriftDetected"] = (
    "Concept drift", "The model's confidence distribution moved away from the training baseline "
    "(PSI above the configured threshold for 1 hour).", [
        "inv.require_data()",
        "conf = inv.confidence_psi()\nconf",
        'inv.check_still_firing(iv.Condition("the confidence PSI", "", '
        "inv.ctx.model.psi.warning),\n                       value=conf[\"psi\"])",
        ("## Model outputs against the days before", '''\
outputs = inv.compare({
    "low-confidence share": lambda r: q.low_confidence_share(model_name, r),
    "accuracy": lambda r: q.accuracy(model_name, r),
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
})
outputs'''),
        'inv.plot({"class share": q.class_share(model_name, rate)}, title="Predicted classes")',
        ("## Input drift", "inv.drift_table()"),
        WHAT_CHANGED,
        ("## Verdict", 'inv.conclude(outputs, "low-confidence share", fmt="{:.1%}", notes=(\n'
         '    f"confidence PSI {conf[\'psi\']:.3f} on {conf[\'n\']:.0f} predictions",))'),
    ])

RUNBOOKS["LowModelAccuracy"] = (
    "Low model accuracy", "The share of correct predictions on the ground-truth sample is below "
    "`accuracy_min` (0.70 by default) for 30 minutes.", [
        "inv.require_data(q.accuracy(model_name, '1h'), what='ground-truth feedback')",
        'inv.check_still_firing(iv.Condition("the 1h accuracy",\n'
        '    q.accuracy(model_name, "1h"), t.accuracy_min, above=False))',
        ("## The incident window against the days before", '''\
quality = inv.compare({
    "accuracy": lambda r: q.accuracy(model_name, "1h"),
    "low-confidence share": lambda r: q.low_confidence_share(model_name, r),
    "labelled predictions (1h)": lambda r: q.ground_truth_count(model_name, "1h"),
})
quality'''),
        ("## Accuracy per segment", 'segments = inv.breakdown(q.accuracy(model_name, "1h", '
         'by=["segment"]), "segment")\nsegments'),
        'inv.plot({"accuracy": q.accuracy(model_name, "1h")}, title="Accuracy (1h)",\n'
        "         threshold=t.accuracy_min)",
        ("## Input drift", "inv.drift_table()"),
        WHAT_CHANGED,
        ("## Verdict", 'worst = segments.index[-1] if len(segments) else "unknown"\n'
         'inv.conclude(quality, "accuracy", fmt="{:.1%}", notes=(f"weakest segment: {worst}",))'),
    ])

RUNBOOKS["HighLowConfidencePredictions"] = (
    "Many low-confidence predictions", "More than `low_confidence_share` (20% by default) of "
    "predictions are under the low-confidence threshold for 1 hour.", [
        "inv.require_data()",
        'inv.check_still_firing(iv.Condition("the 1h low-confidence share",\n'
        '    q.low_confidence_share(model_name, "1h"), t.low_confidence_share))',
        ("## The incident window against the days before", '''\
conf_table = inv.compare({
    "low-confidence share": lambda r: q.low_confidence_share(model_name, r),
    "accuracy": lambda r: q.accuracy(model_name, "1h"),
})
conf_table'''),
        'inv.plot({"low-confidence share": q.low_confidence_share(model_name, rate)},\n'
        '         title="Low-confidence share", threshold=t.low_confidence_share)',
        "conf = inv.confidence_psi()\nconf",
        ("## Input drift", "inv.drift_table()"),
        WHAT_CHANGED,
        ("## Verdict", 'inv.conclude(conf_table, "low-confidence share", fmt="{:.1%}", notes=(\n'
         '    f"confidence PSI {conf[\'psi\']:.3f}",))'),
    ])

RUNBOOKS["ModelMetricsAbsent"] = (
    "Model metrics absent", "Prometheus has no series of the model's request counter: the "
    "service stopped exporting, or its scrape or name changed.", [
        'present = f"count({q.selector(\'ml_requests_total\', model_name=model_name)}) or vector(0)"\n'
        'inv.check_still_firing(iv.Condition("the number of request-counter series", present, 1,\n'
        "                                    above=False))",
        ("## What was exported before", '''\
before = inv.compare({
    "request series": lambda r: present,
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
})
before'''),
        'inv.plot({"request series": present}, title="Request-counter series")',
        WHAT_CHANGED,
        ("## Verdict", 'inv.conclude(before, "request series", fmt="{:.0f}", notes=(\n'
         '    "check the scrape target and the model_name label",))'),
    ])

RUNBOOKS["SLOErrorBudgetBurn"] = (
    "SLO error budget burn", "An SLO spends its error budget too fast over both a long and a "
    "short window (multi-window, multi-burn-rate: page at 14.4× and 6×, ticket at 3× and 1×).", [
        'objective_slo = slo or "availability"\n'
        "inv.require_data()",
        ("## Burn rates at the end of the window", "burn = inv.burn_rates(objective_slo)\nburn"),
        'long_w = long_window or "1h"\n'
        "factor = iv.burn_rate_factor(long_w, inv.ctx.model.slo.period_seconds)\n"
        'windows = [w for w in (long_w, short_window or "5m") if w in burn.index]\n'
        'current = float(burn.loc[windows, "burn rate"].min()) if windows else float("nan")\n'
        'inv.check_still_firing(iv.Condition(f"the {objective_slo} burn rate over {windows}", "", '
        "factor),\n                       value=current)",
        ("## Bad events against the days before", '''\
bad = inv.compare({f"{objective_slo} bad share": lambda r: inv.slo_bad_ratio(objective_slo, r)})
bad'''),
        'inv.plot({"bad share": inv.slo_bad_ratio(objective_slo, rate)},\n'
        '         title=f"{objective_slo} SLO: share of bad events",\n'
        "         threshold=1 - inv.slo_objective(objective_slo))",
        WHAT_CHANGED,
        ("## Verdict", 'inv.conclude(bad, f"{objective_slo} bad share", fmt="{:.2%}", notes=(\n'
         '    f"burn rate {current:.1f}× against {factor}× over {long_w}",))'),
    ])

RUNBOOKS["LowThroughput"] = (
    "Low throughput", "The model serves fewer requests per second than `throughput.min_rps`.", [
        "inv.require_data()",
        'inv.check_still_firing(iv.Condition("the 5m request rate (/s)",\n'
        '    q.request_rate(model_name, "5m"), inv.ctx.model.slo.throughput_min_rps, '
        "above=False))",
        ("## The incident window against the days before", RED),
        'inv.plot({"requests": q.request_rate(model_name, rate)}, title="Request rate",\n'
        "         threshold=inv.ctx.model.slo.throughput_min_rps, unit=\"/s\")",
        WHAT_CHANGED,
        ("## Verdict", 'inv.conclude(red, "request rate (/s)", notes=(\n'
         '    "check upstream callers and the traffic source",))'),
    ])


def build(alert: str) -> nbformat.NotebookNode:
    """The notebook of one alert."""
    title, meaning, body = RUNBOOKS[alert]
    cells = [nbformat.v4.new_markdown_cell(
        f"# Runbook: {title} (`{alert}`)\n\n{meaning}\n\nExecuted by the launcher when the alert "
        f"fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/{alert}.ipynb "
        f"-p model_name …`. It compares the incident window with the days before, shows what "
        f"changed, and records a verdict. It ends early, with a message, when the alert has "
        f"resolved or there is no data.")]
    params = nbformat.v4.new_code_cell(PARAMETERS.replace("{alert}", alert))
    params.metadata["tags"] = ["parameters"]
    cells += [params, nbformat.v4.new_code_cell(OPEN)]
    for item in body:
        if isinstance(item, tuple):
            cells.append(nbformat.v4.new_markdown_cell(item[0]))
            item = item[1]
        cells.append(nbformat.v4.new_code_cell(item))
    for i, cell in enumerate(cells):
        cell["id"] = f"{alert[:20].lower()}-{i}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(check: bool = False) -> int:
    """Write every runbook (or, with ``check``, report the ones that differ); exit status."""
    stale = []
    for alert in RUNBOOKS:
        text = nbformat.writes(build(alert)) + "\n"
        path = HERE / f"{alert}.ipynb"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print("stale runbooks (run python runbooks/_generate.py): " + ", ".join(stale))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
