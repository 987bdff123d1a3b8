# %% [markdown]
# # Runbook: Model service down (`MLServiceDown`)
#
# Prometheus cannot scrape a target serving the model (`up == 0`; the target's `model_name` label or its last `ml_model_info` says which model it serves).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/MLServiceDown.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "MLServiceDown"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
rate = inv.rate
t = inv.thresholds

# %%
inv.check_still_firing(iv.Condition("the demo job's up",
    f"max(up{{job=\"{q.DEMO_JOB}\"}}) or vector(0)", 1, above=False))

# %% [markdown]
# ## Traffic served before and during

# %%
served = inv.compare({"request rate (/s)": lambda r: q.request_rate(model_name, r)})
served

# %%
inv.plot({"up": f"max(up{{job=\"{q.DEMO_JOB}\"}})", "requests": q.request_rate(model_name, rate)}, title="Scrape health and traffic")

# %% [markdown]
# ## What changed
# Model versions and baselines seen in the incident window and before.

# %%
inv.what_changed()

# %% [markdown]
# ## Verdict

# %%
inv.conclude(served, "request rate (/s)", notes=(
    "check the service log with `mlmon-nb stack logs demo`",))
