# %% [markdown]
# # Runbook: Elevated error rate (`ElevatedErrorRate`)
#
# More than the warning share of requests fail, beyond chance: the same evidence as HighErrorRate at the warning threshold.
#
# **Fires when** warning: the 5m error ratio above `alerts.error_ratio.warning` (2%) for 10m, with at least `alerts.min_events.requests` (10 requests).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/ElevatedErrorRate.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
model_version: str = ""  # a canary's version, when the alert judged that version alone
slo: str = ""
long_window: str = ""
short_window: str = ""
starts_at: str = ""  # the alert's startsAt
alertname: str = "ElevatedErrorRate"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
signal = iv.error_ratio(model_name, t.error_ratio_warning, model_version=model_version)

# %%
inv.require_data();

# %%
inv.check_still_firing(inv.alert_condition(signal, signal.name));

# %%
inv.find_onset(signal);

# %%
inv.compare([signal, iv.request_rate(model_name, model_version=model_version),
             iv.latency(model_name, 0.95)]);

# %%
inv.breakdown("errors", lambda r, by: q.error_rate(model_name, r, by=by),
              ["error_type", "endpoint", "model_version", "instance"]);

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step=f"read the logs of the service (scrape job `{inv.job}`) "
             "for the error type on top, and roll back a deploy made near onset.");
