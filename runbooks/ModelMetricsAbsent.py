# %% [markdown]
# # Runbook: Model metrics absent (`ModelMetricsAbsent`)
#
# Prometheus has no `ml_model_info` of the model, which a running service exports from its start: the service stopped exporting, or its scrape or name changed.
#
# **Fires when** warning: no `ml_model_info` for the model for 10m.
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/ModelMetricsAbsent.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "ModelMetricsAbsent"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
series = f"count({q.selector('ml_requests_total', model_name=model_name)})"
signal = iv.Signal("request-counter series", lambda r: series, 1, above=False, kind="count",
                   missing=0)

# %%
inv.check_still_firing(signal.condition("the number of request-counter series"));

# %%
inv.find_onset(signal);

# %%
inv.compare([signal, iv.request_rate(model_name)]);

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step="check the scrape target, its model_name label and whether the "
             "service still exports (`curl` its /metrics).");
