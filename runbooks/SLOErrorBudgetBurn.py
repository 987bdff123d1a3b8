# %% [markdown]
# # Runbook: SLO error budget burn (`SLOErrorBudgetBurn`)
#
# An SLO spends its error budget too fast over a long window and not slower over a short one (the short window resets it only when its own events show the ratio under the threshold, its upper bound at `alerts.alpha`: a thin one neither confirms nor resets; multi-window, multi-burn-rate: page at 14.4× and 6×, ticket at 3× and 1×), the long window's lower bound above the burn threshold too, and history covering 90% of it (the accuracy SLO's evidence floor is `alerts.min_events.ground_truth`); labels `slo`, `long_window`, `short_window`.
#
# **Fires when** critical: the burn rate of its long and short window above the window's burn factor × the SLO's error budget (no `for`), with at least `alerts.min_events.requests` (10 requests); warning: the burn rate of its long and short window above the window's burn factor × the SLO's error budget (no `for`), with at least `alerts.min_events.requests` (10 requests).
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/SLOErrorBudgetBurn.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
t = inv.thresholds
objective_slo = slo or "availability"
long_w = long_window or "1h"
factor = iv.burn_rate_factor(long_w, inv.ctx.model.slo.period_seconds)
budget = 1 - inv.slo_objective(objective_slo)
signal = iv.Signal(f"{objective_slo} bad share", lambda r: inv.slo_bad_ratio(objective_slo, r),
                   factor * budget, kind="ratio",
                   sample=lambda r: inv.slo_event_count(objective_slo, r), sample_unit="events")

# %%
inv.require_data();

# %%
burn = inv.burn_rates(objective_slo)
windows = [w for w in (long_w, short_window or "5m") if w in burn.index]
current = float(burn.loc[windows, "burn rate"].min()) if windows else float("nan")
inv.check_still_firing(iv.Condition(f"the {objective_slo} burn rate over {', '.join(windows)}",
                                    "", factor), value=current);

# %%
inv.find_onset(signal);

# %%
inv.burn_rates(objective_slo, record=True, factor=factor);

# %%
inv.compare([signal, iv.request_rate(model_name)]);

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step="open the runbook of the alert behind the bad events (error rate or "
             "latency) and stop the burn before the budget is gone.");
