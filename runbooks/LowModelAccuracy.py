# %% [markdown]
# # Runbook: Low model accuracy (`LowModelAccuracy`)
#
# The share of correct predictions on the ground-truth sample is below `accuracy_min` (0.70 by default) for 30 minutes.
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/LowModelAccuracy.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "LowModelAccuracy"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
rate = inv.rate
t = inv.thresholds

# %%
inv.require_data(q.accuracy(model_name, '1h'), what='ground-truth feedback')

# %%
inv.check_still_firing(iv.Condition("the 1h accuracy",
    q.accuracy(model_name, "1h"), t.accuracy_min, above=False))

# %% [markdown]
# ## The incident window against the days before

# %%
quality = inv.compare({
    "accuracy": lambda r: q.accuracy(model_name, "1h"),
    "low-confidence share": lambda r: q.low_confidence_share(model_name, r),
    "labelled predictions (1h)": lambda r: q.ground_truth_count(model_name, "1h"),
})
quality

# %% [markdown]
# ## Accuracy per segment

# %%
segments = inv.breakdown(q.accuracy(model_name, "1h", by=["segment"]), "segment")
segments

# %%
inv.plot({"accuracy": q.accuracy(model_name, "1h")}, title="Accuracy (1h)",
         threshold=t.accuracy_min)

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
worst = segments.index[-1] if len(segments) else "unknown"
inv.conclude(quality, "accuracy", fmt="{:.1%}", notes=(f"weakest segment: {worst}",))
