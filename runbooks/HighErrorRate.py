# %% [markdown]
# # Runbook: High error rate (`HighErrorRate`)
#
# More than the critical share of requests fail (error ratio above `error_ratio.critical`, 5% by default, for 5 minutes).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/HighErrorRate.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "HighErrorRate"

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
inv.check_still_firing(iv.Condition("the 5m error ratio",
    q.error_ratio(model_name, "5m"), t.error_ratio_critical))

# %% [markdown]
# ## The incident window against the days before

# %%
red = inv.compare({
    "error ratio": lambda r: q.error_ratio(model_name, r),
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
    "p95 latency (s)": lambda r: q.latency_quantile(0.95, model_name, r),
})
red

# %%
inv.plot({"error ratio": q.error_ratio(model_name, rate)}, title="Error ratio",
         threshold=t.error_ratio_critical)

# %% [markdown]
# ## Errors by type

# %%
by_type = inv.breakdown(q.error_rate(model_name, rate, by=["error_type"]), "error_type")
by_type

# %% [markdown]
# ## What changed
# Model versions and baselines seen in the incident window and before.

# %%
inv.what_changed()

# %%
inv.plot({"requests": q.request_rate(model_name, rate)}, title="Request rate", unit="/s")

# %% [markdown]
# ## Verdict

# %%
top = by_type.index[0] if len(by_type) else "unknown"
inv.conclude(red, "error ratio", fmt="{:.2%}", notes=(f"most errors are {top}",))
