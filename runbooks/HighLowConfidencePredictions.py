# %% [markdown]
# # Runbook: Many low-confidence predictions (`HighLowConfidencePredictions`)
#
# More predictions than the threshold's share are under the low-confidence threshold, beyond chance (the lower bound over the window or over 2h, until the 30m window's upper bound is back under it); also each version alone (label `model_version`).
#
# **Fires when** info: the 30m low-confidence share above `alerts.low_confidence_share` (20%) for 1h, with at least `alerts.min_events.predictions` (10 predictions).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/HighLowConfidencePredictions.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "HighLowConfidencePredictions"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
signal = iv.low_confidence(model_name, t.low_confidence_share, model_version=model_version)

# %%
inv.require_data();

# %%
inv.check_still_firing(inv.alert_condition(signal, signal.name));

# %%
inv.find_onset(signal);

# %%
inv.distribution("confidence", title="Confidence: training baseline against the incident window");

# %%
inv.compare([signal, iv.accuracy(model_name, model_version=model_version),
             iv.request_rate(model_name, model_version=model_version)]);

# %%
inv.breakdown("low-confidence share", lambda r, by: q.low_confidence_share(model_name, r, by=by),
              ["model_version"], kind="ratio", additive=False,
              sample_by=lambda d, by: q.prediction_count(model_name, d, by=by),
              sample_unit="predictions");

# %%
inv.drift_finding();

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step="look at the inputs behind the ambiguous predictions; route "
             "them to review if accuracy is falling too.");
