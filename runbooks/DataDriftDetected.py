# %% [markdown]
# # Runbook: Data drift (`DataDriftDetected`)
#
# An input feature's distribution moved away from the training baseline (binned KS above the configured threshold for 1 hour).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/DataDriftDetected.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "DataDriftDetected"

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

# %% [markdown]
# ## Drift rerun against the training baseline

# %%
drift = inv.drift_table()
drift

# %%
ks_limit = inv.ctx.model.ks.critical if severity == "critical" else inv.ctx.model.ks.warning
watched = feature if feature in drift.index else (drift.index[0] if len(drift) else "")
inv.check_still_firing(iv.Condition(f"the binned KS of {watched or 'every feature'}", "", ks_limit),
                       value=float(drift.loc[watched, "ks"]) if watched else float("nan"))

# %% [markdown]
# ## Input features against the days before

# %%
inputs = inv.compare({
    "request rate (/s)": lambda r: q.request_rate(model_name, r),
    "invalid feature values (/s)": inv.invalid_rate,
})
inputs

# %% [markdown]
# ## What changed
# Model versions and baselines seen in the incident window and before.

# %%
inv.what_changed()

# %% [markdown]
# ## Verdict

# %%
inv.summary(f"{watched} drifted: binned KS {drift.loc[watched, 'ks']:.3f}, PSI {drift.loc[watched, 'psi']:.3f} over the incident window "
            f"({drift.loc[watched, 'ks severity']}); most drifted feature: "
            f"{drift.index[0]}.")
