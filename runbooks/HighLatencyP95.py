# %% [markdown]
# # Runbook: High P95 latency (`HighLatencyP95`)
#
# The 95th percentile of request duration is above a multiple of the latency SLO threshold (critical 2×, warning 1.5×).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/HighLatencyP95.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "HighLatencyP95"

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
factor = t.latency_p95_factor_critical if severity == "critical" else t.latency_p95_factor_warning
limit = factor * inv.ctx.model.slo.latency_threshold_seconds
inv.check_still_firing(iv.Condition("the 5m P95 latency (s)",
    q.latency_quantile(0.95, model_name, "5m"), limit))

# %% [markdown]
# ## The incident window against the days before

# %%
lat = inv.compare({
    "p95 latency (s)": lambda r: q.latency_quantile(0.95, model_name, r),
    "p50 latency (s)": lambda r: q.latency_quantile(0.5, model_name, r),
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
    "in flight": lambda r: q.in_flight(model_name),
})
lat

# %%
inv.plot(q.latency_quantiles(model_name, rate), title="Latency quantiles", threshold=limit, unit="s")

# %% [markdown]
# ## What changed
# Model versions and baselines seen in the incident window and before.

# %%
inv.what_changed()

# %% [markdown]
# ## Verdict

# %%
load = lat.loc["request rate (/s)", "change ×"]
inv.conclude(lat, "p95 latency (s)", notes=(
    "traffic rose with it" if load == load and load > 1.5 else "traffic did not explain it",))
