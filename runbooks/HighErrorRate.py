# %% [markdown]
# # Runbook: High error rate (`HighErrorRate`)
#
# More than the critical share of requests fail, beyond chance: the Wilson lower bound of the error ratio at `alerts.alpha` is above the threshold over its window, or over 30m where that is too thin; it stops when the 5m window's upper bound is under the threshold, and a 1m window (4 scrape intervals when scrapes are slower) resets it only when its own requests show the ratio under the threshold: a thin window neither confirms nor resets.
#
# **Fires when** critical: the 5m error ratio above `alerts.error_ratio.critical` (5%) for 5m, with at least `alerts.min_events.requests` (10 requests).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/HighErrorRate.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "HighErrorRate"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
signal = iv.error_ratio(model_name, t.error_ratio_critical, model_version=model_version)

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
