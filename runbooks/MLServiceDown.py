# %% [markdown]
# # Runbook: Model service down (`MLServiceDown`)
#
# Prometheus cannot scrape a target serving the model (the target's `model_name` label or the `ml_model_info` it exported within the last day says which model it serves; any job; labels `job`, `instance`).
#
# **Fires when** critical: `up == 0` for a target serving the model for 1m.
#
# Executed by the launcher when the alert fires, with its labels as parameters; rerun with `mlmon-nb run runbooks/MLServiceDown.ipynb -p model_name …`. It finds when the alert's signal left its normal band (the incident window runs from there), compares that window with the same hours of the days before, breaks the change down by label, and records each check as a finding and a verdict. It ends early, with a message, when the alert has resolved or there is no data.

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
alertname: str = "MLServiceDown"

# %%
from mlmon_nb import investigate as iv, queries as q
inv = iv.open_investigation(alertname, model_name, prometheus_url, start, end, window, step,
                            baseline_path, starts_at=starts_at, severity=severity,
                            feature=feature, slo=slo, long_window=long_window,
                            short_window=short_window)
t = inv.thresholds
signal = iv.scrape_up(inv.job)

# %%
inv.require_data(f"max({q.selector('up', job=inv.job)})", what="scrape results (up)");

# %%
inv.check_still_firing(signal.condition("the service's up", "5m"));

# %%
inv.find_onset(signal);

# %%
inv.compare([iv.request_rate(model_name)]);

# %%
inv.what_changed();

# %%
inv.conclude(signal, next_step=f"check the log and process of the service (scrape job `{inv.job}`) "
             "and restart it.");
