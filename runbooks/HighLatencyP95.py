# %% [markdown]
# # Runbook: High P95 latency (`HighLatencyP95`)
#
# The 95th percentile of request duration is above a multiple of the latency SLO threshold.
#
# **Fires when** critical: the 5m P95 latency above `alerts.latency_p95_factor.critical` × `slos.latency.threshold_seconds` (0.5s) for 10m, with at least `alerts.min_events.requests` (10 requests); warning: the 5m P95 latency above `alerts.latency_p95_factor.warning` × `slos.latency.threshold_seconds` (0.375s) for 15m, with at least `alerts.min_events.requests` (10 requests).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/HighLatencyP95.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

# %% tags=["parameters"]
model_name: str = "sentiment_classifier"  # the model the alert is about
prometheus_url: str = ""  # empty: $MLMON_PROMETHEUS_URL, else the config's
start: str = ""  # ISO-8601; empty: the onset search starts hours before starts_at
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
alertname: str = "HighLatencyP95"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
factor = t.latency_p95_factor_critical if severity == "critical" else t.latency_p95_factor_warning
limit = factor * inv.ctx.model.slo.latency_threshold_seconds
signal = iv.latency(model_name, 0.95, limit)

# %%
inv.require_data();

# %%
inv.check_still_firing(inv.alert_condition(signal, "P95 latency"));

# %%
inv.find_onset(signal);

# %%
inv.compare([signal, iv.latency(model_name, 0.5), iv.request_rate(model_name),
             iv.in_flight(model_name)]);

# %%
inv.breakdown("p95 latency", lambda r, by: q.latency_quantile(0.95, model_name, r, by=by),
              ["endpoint"], kind="seconds", additive=False);

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step="if traffic rose with it, scale out; else look at the slowest "
             "endpoint and at a deploy near onset.");
