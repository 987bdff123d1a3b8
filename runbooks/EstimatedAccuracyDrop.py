# %% [markdown]
# # Runbook: Estimated accuracy drop (`EstimatedAccuracyDrop`)
#
# The accuracy estimated from the live confidences through the baseline's reliability curve is below LowModelAccuracy's floor, its whole 95% band included: before the labels say so; models whose baseline has a calibration; also each version alone of a model running several, through the model's curve (label `model_version`).
#
# **Fires when** warning: the 30m estimated accuracy (the upper edge of its band) below `alerts.accuracy_min` (70%) for 15m, with at least `alerts.min_events.predictions` (10 predictions).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/EstimatedAccuracyDrop.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "EstimatedAccuracyDrop"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
inv.require_calibration();

# %%
inv.require_data(q.confidence_buckets(model_name, "30m"), what="prediction confidences")
signal = inv.estimated_accuracy_signal(t.accuracy_min, model_version=model_version)

# %%
inv.check_still_firing(inv.alert_condition(signal, signal.name));

# %%
inv.find_onset(signal);

# %%
inv.estimated_vs_realized(model_version);

# %%
inv.estimated_accuracy_by_version();

# %%
inv.distribution("confidence", title="Confidence: training baseline against the incident window");

# %%
inv.drift_finding();

# %%
inv.assumption(model_version);

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step="read the realized accuracy as labels arrive: if it follows the "
             "estimate, find the upstream change behind the shifted inputs (the drifted features) "
             "and retrain on them; if it stays up, refit the calibration on fresh labels.");
