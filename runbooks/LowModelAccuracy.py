# %% [markdown]
# # Runbook: Low model accuracy (`LowModelAccuracy`)
#
# The share of correct predictions on the ground-truth sample is below the floor, beyond chance: the Wilson upper bound at `alerts.alpha` is under it over its window, or over 6h, until the 1h window's lower bound is back at the floor; also each version alone of a model running several (label `model_version`).
#
# **Fires when** critical: the 1h accuracy below `alerts.accuracy_min` (70%) for 30m, with at least `alerts.min_events.ground_truth` (10 ground-truth outcomes).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/LowModelAccuracy.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "LowModelAccuracy"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
signal = iv.accuracy(model_name, t.accuracy_min, model_version=model_version)

# %%
inv.require_data(signal.query("1h"), what="ground-truth feedback");

# %%
inv.check_still_firing(inv.alert_condition(signal, signal.name));

# %%
inv.find_onset(signal);

# %%
inv.compare([signal, iv.low_confidence(model_name, model_version=model_version),
             iv.request_rate(model_name, model_version=model_version)]);

# %%
inv.breakdown("accuracy", lambda r, by: q.accuracy(model_name, r, by=by),
              ["segment", "model_version"],
              kind="ratio", additive=False,
              sample_by=lambda d, by: q.ground_truth_count(model_name, d, by=by),
              sample_unit="labels");

# %%
inv.drift_finding();

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step="check the weakest segment's inputs and labels; roll back a "
             "deploy near onset, or retrain.");
