# %% [markdown]
# # Runbook: Concept drift (`ConceptDriftDetected`)
#
# The model's confidence distribution moved away from the training baseline: the PSI of the confidence histogram is above the threshold and above what chance gives for the window's count at `drift.alpha`.
#
# **Fires when** warning: the 1h PSI of the confidence above `drift.psi.warning` (0.2) for 1h, with at least `alerts.min_events.predictions` (10 predictions).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/ConceptDriftDetected.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "ConceptDriftDetected"

# %%
from mlmon_nb import investigate as iv
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
psi_limit = inv.ctx.model.psi.warning
inv.require_confidence();

# %%
inv.require_data();

# %%
signal = inv.psi_signal(psi_limit)
inv.check_still_firing(inv.alert_condition(signal, "confidence PSI"));

# %%
inv.find_onset(signal);

# %%
inv.distribution("confidence", title="Confidence: training baseline against the incident window",
                 key=True);

# %%
inv.compare([signal, iv.low_confidence(model_name), iv.accuracy(model_name),
             iv.request_rate(model_name)]);

# %%
inv.drift_finding();

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step="check whether the inputs drifted too (above) and whether "
             "accuracy fell; relabel a sample and retrain if it did.");
