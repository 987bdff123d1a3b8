# %% [markdown]
# # Runbook: Data drift (`DataDriftDetected`)
#
# An input feature's distribution moved away from the training baseline: its binned KS is above the threshold and above what chance gives for the window's count at `drift.alpha` (label `feature`).
#
# **Fires when** warning: the 1h binned KS of a feature above `drift.ks.warning` (0.15) for 1h, with at least `alerts.min_events.feature_values` (30 values); critical: the 1h binned KS of a feature above `drift.ks.critical` (0.25) for 1h, with at least `alerts.min_events.feature_values` (30 values).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/DataDriftDetected.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "DataDriftDetected"

# %%
from mlmon_nb import investigate as iv
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
baseline = inv.require_baseline()

# %%
inv.require_data();

# %%
watched = inv.watched_feature(feature)  # the one asked for, else the most drifted
categorical = watched in baseline.categorical  # judged by its PSI, which no alert judges
signal = inv.feature_signal(watched, severity, model_version=model_version)
inv.check_still_firing(inv.alert_condition(signal, f"{'PSI' if categorical else 'binned KS'} "
                                                   f"of {watched}", own_threshold=categorical));

# %%
inv.find_onset(signal);

# %%
inv.distribution(watched, key=True);

# %%
inv.drift_finding();

# %%
inv.compare([signal, iv.request_rate(model_name),
             iv.Signal("invalid feature values", inv.invalid_rate, kind="rate")]);

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step=f"find which upstream source or client changed {watched}; "
             "retrain on recent data if the shift is real and lasting.");
