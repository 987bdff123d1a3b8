# %% [markdown]
# # Runbook: Multivariate drift (`MultivariateDriftDetected`)
#
# The inputs' joint distribution moved away from the training baseline while each feature alone may look as usual: the binned KS of the reconstruction error by the baseline's principal components is above the data-drift warning threshold and past chance, or its mean past what chance gives; models whose baseline has a joint structure.
#
# **Fires when** warning: the 1h binned KS of the reconstruction error above `drift.ks.warning` (0.15), or the 1h mean reconstruction error above what chance gives for its count at `drift.alpha`, for 1h, with at least `alerts.min_events.feature_values` (30 values).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/MultivariateDriftDetected.ipynb -p model_name …`. It finds when the reconstruction error left its normal band (the incident window runs from there), reruns the alert's statistic on that window, charts the error against the baseline's band, ranks the features by the residual they add, names the baseline-correlated pair whose correlation change explains it, and checks each feature's own drift. It ends early, with a message, when the alert has resolved, there is no data or the baseline has no joint structure.

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
alertname: str = "MultivariateDriftDetected"

# %%
from mlmon_nb import investigate as iv
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
ks_limit = inv.ctx.model.ks.warning
inv.require_baseline()
joint = inv.require_joint()

# %%
inv.require_errors();

# %%
signal = inv.reconstruction_signal(ks_limit)
condition = inv.alert_condition(signal, "binned KS of the reconstruction error", "1h")
inv.check_still_firing(*inv.reconstruction_condition(condition));

# %%
inv.find_onset(signal);

# %%
inv.reconstruction_finding(joint, ks_limit);

# %%
residuals = inv.residual_finding(joint)

# %%
pairs = inv.pairs_finding(joint, residuals)

# %%
inv.drift_finding();

# %%
inv.conclude(signal, cause=inv.reconstruction_cause(joint, residuals, pairs),
             next_step="find which upstream join or source changed how the features above go "
             "together (each may look normal alone); retrain on recent data if the new joint "
             "distribution is real and lasting.");
