# %% [markdown]
# # Runbook: Model metrics absent (`ModelMetricsAbsent`)
#
# Prometheus has no `ml_model_info` of the model, which a running service exports from its start: the service stopped exporting, or its scrape or name changed.
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/ModelMetricsAbsent.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "ModelMetricsAbsent"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
rate = inv.rate
t = inv.thresholds

# %%
present = f"count({q.selector('ml_requests_total', model_name=model_name)}) or vector(0)"
inv.check_still_firing(iv.Condition("the number of request-counter series", present, 1,
                                    above=False))

# %% [markdown]
# ## What was exported before

# %%
before = inv.compare({
    "request series": lambda r: present,
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
})
before

# %%
inv.plot({"request series": present}, title="Request-counter series")

# %% [markdown]
# ## What changed
# Model versions and baselines seen in the incident window and before.

# %%
inv.what_changed()

# %% [markdown]
# ## Verdict

# %%
inv.conclude(before, "request series", fmt="{:.0f}", notes=(
    "check the scrape target and the model_name label",))
