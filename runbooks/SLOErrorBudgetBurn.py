# %% [markdown]
# # Runbook: SLO error budget burn (`SLOErrorBudgetBurn`)
#
# An SLO spends its error budget too fast over both a long and a short window (multi-window, multi-burn-rate: page at 14.4× and 6×, ticket at 3× and 1×).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/SLOErrorBudgetBurn.ipynb -p model_name …`. It compares the incident window with the days before, shows what changed, and records a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "SLOErrorBudgetBurn"

# %%
from mlmon_nb import investigate as iv
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
rate = inv.rate
t = inv.thresholds

# %%
objective_slo = slo or "availability"
inv.require_data()

# %% [markdown]
# ## Burn rates at the end of the window

# %%
burn = inv.burn_rates(objective_slo)
burn

# %%
long_w = long_window or "1h"
factor = iv.burn_rate_factor(long_w, inv.ctx.model.slo.period_seconds)
windows = [w for w in (long_w, short_window or "5m") if w in burn.index]
current = float(burn.loc[windows, "burn rate"].min()) if windows else float("nan")
inv.check_still_firing(iv.Condition(f"the {objective_slo} burn rate over {windows}", "", factor),
                       value=current)

# %% [markdown]
# ## Bad events against the days before

# %%
bad = inv.compare({f"{objective_slo} bad share": lambda r: inv.slo_bad_ratio(objective_slo, r)})
bad

# %%
inv.plot({"bad share": inv.slo_bad_ratio(objective_slo, rate)},
         title=f"{objective_slo} SLO: share of bad events",
         threshold=1 - inv.slo_objective(objective_slo))

# %% [markdown]
# ## What changed
# Model versions and baselines seen in the incident window and before.

# %%
inv.what_changed()

# %% [markdown]
# ## Verdict

# %%
inv.conclude(bad, f"{objective_slo} bad share", fmt="{:.2%}", notes=(
    f"burn rate {current:.1f}× against {factor}× over {long_w}",))
