# %% [markdown]
# # Runbook: Low throughput (`LowThroughput`)
#
# The model serves fewer requests per second than `throughput.min_rps` and than half the same hour last week (the floor alone where there is no such history).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/LowThroughput.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "LowThroughput"

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
inv.check_still_firing(iv.Condition("the 5m request rate (/s)",
    q.request_rate(model_name, "5m"), inv.ctx.model.slo.throughput_min_rps, above=False))

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
inv.plot({"requests": q.request_rate(model_name, rate)}, title="Request rate",
         threshold=inv.ctx.model.slo.throughput_min_rps, unit="/s")

# %% [markdown]
# ## What changed
# Model versions and baselines seen in the incident window and before.

# %%
inv.what_changed()

# %% [markdown]
# ## Verdict

# %%
inv.conclude(red, "request rate (/s)", notes=(
    "check upstream callers and the traffic source",))
