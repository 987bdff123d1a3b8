# %% [markdown]
# # Runbook: Low throughput (`LowThroughput`)
#
# The model serves fewer requests per second than the floor and than the share `slos.throughput.min_share_of_last_week` of the quietest same moment (±5 min) of the last four weeks — in a first week, of the last six days; the floor alone on a first day. Beyond chance: the upper bound of the window's request count (Poisson, at `alerts.alpha`) is under both too, so a few missing requests on a quiet night are no evidence.
#
# **Fires when** warning: the 5m request rate below `slos.throughput.min_rps` (0.5 requests/s) for 15m.
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/LowThroughput.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "LowThroughput"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
signal = iv.request_rate(model_name, inv.ctx.model.slo.throughput_min_rps, above=False)

# %%
inv.require_data();

# %%
inv.check_still_firing(inv.alert_condition(signal, "request rate"));

# %%
inv.find_onset(signal);

# %%
inv.compare([signal, iv.error_ratio(model_name), iv.latency(model_name, 0.95)]);

# %%
inv.breakdown("requests", lambda r, by: q.request_rate(model_name, r, by=by),
              ["endpoint", "model_version", "instance"]);

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step="check the upstream callers, the load balancer and the traffic "
             "source.");
