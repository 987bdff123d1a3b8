# %% [markdown]
# # Runbook: Many low-confidence predictions (`HighLowConfidencePredictions`)
#
# More than `low_confidence_share` (20% by default) of predictions are under the low-confidence threshold for 1 hour.
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/HighLowConfidencePredictions.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

# %% tags=["parameters"]
model_name: str = "sentiment_classifier"  # the model the alert is about
prometheus_url: str = ""  # empty: $MLMON_PROMETHEUS_URL, else the config's
start: str = ""  # ISO-8601; empty: an hour before starts_at, else end - window
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
alertname: str = "HighLowConfidencePredictions"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
rate = inv.rate
t = inv.thresholds

# %%
inv.require_data()

# %%
inv.check_still_firing(iv.Condition("the 1h low-confidence share",
    q.low_confidence_share(model_name, "1h"), t.low_confidence_share))

# %% [markdown]
# ## The incident window against the days before

# %%
conf_table = inv.compare({
    "low-confidence share": lambda r: q.low_confidence_share(model_name, r),
    "accuracy": lambda r: q.accuracy(model_name, "1h"),
})
conf_table

# %%
inv.plot({"low-confidence share": q.low_confidence_share(model_name, rate)},
         title="Low-confidence share", threshold=t.low_confidence_share)

# %%
conf = inv.confidence_psi()
conf

# %% [markdown]
# ## Input drift

# %%
inv.drift_table()

# %% [markdown]
# ## What changed
# Model versions and baselines seen in the incident window and before.

# %%
inv.what_changed()

# %% [markdown]
# ## Verdict

# %%
inv.conclude(conf_table, "low-confidence share", fmt="{:.1%}", notes=(
    f"confidence PSI {conf['psi']:.3f}",))
