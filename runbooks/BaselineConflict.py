# %% [markdown]
# # Runbook: Baseline conflict (`BaselineConflict`)
#
# The live replicas of one version of the model serve different training baselines (`ml_model_info`'s `baseline_id`: one left with an old baseline file, one started without it): the model's drift, concept drift, estimated accuracy and multivariate check have no one baseline to compare with, so they are withheld instead of blending two; label `model_version`. Versions serving a baseline each (a retrained canary) are no conflict.
#
# **Fires when** warning: more than one `baseline_id` for one version for 15m.
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/BaselineConflict.ipynb -p model_name …`. It finds when the version's replicas began to disagree, names which replica serves which baseline (and which is the configured file's), and shows the deploys and baselines seen before and since. It ends early, with a message, when the alert has resolved or there is no data.

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
model_version: str = ""  # the version whose replicas disagree
slo: str = ""
long_window: str = ""
short_window: str = ""
starts_at: str = ""  # the alert's startsAt
alertname: str = "BaselineConflict"

# %%
from mlmon_nb import investigate as iv
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
signal = iv.baselines_served(model_name, model_version)

# %%
inv.require_data(signal.promql(""), "ml_model_info");

# %%
inv.check_still_firing(signal.condition("the number of baselines one version serves"));

# %%
inv.find_onset(signal);

# %%
inv.replicas_baselines(model_version);

# %%
inv.what_changed();

# %%
inv.conclude(signal, cause=inv.numbers.get("baselines_served", ""), next_step="serve one baseline file on every replica of the version: "
             "redeploy the replicas named above with the file the version was trained with, or "
             "give a model retrained on other data its own version (each version is then "
             "judged against its own baseline).");
