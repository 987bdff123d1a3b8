# %% [markdown]
# # Drift history
#
# Input drift (binned KS and PSI per feature) and concept drift (PSI of the prediction confidence) against the training baseline, one point per step, with the info / warning / critical thresholds of `mlmon.yaml`; the most drifted features; reference against current distributions; and the sample size behind every point. Computed from the `ml_feature_value` histograms in Prometheus — the same numbers the recording rules alert on.

# %% tags=["parameters"]
model_name = "sentiment_classifier"
prometheus_url = ""  # empty: MLMON_PROMETHEUS_URL, then the configuration
start = ""           # ISO-8601, unix seconds or now-2d; empty: end - window
end = ""             # empty: now
window = "24h"       # used when start is empty
step = ""            # one drift point per step; empty: 1h up to 3 days, else 1d
baseline_path = ""   # empty: the model's baseline from mlmon.yaml

# %%
from IPython.display import Markdown, display

from mlmon_nb import drift, plots, widgets
from mlmon_nb.baseline import Baseline
from mlmon_nb.context import notebook_context

ctx = notebook_context(model_name, prometheus_url, start, end, window, step="",
                       baseline_path=baseline_path)
baseline = Baseline.load(ctx.baseline_path)
thresholds = drift.thresholds_for(ctx.model)
display(Markdown(f"**{ctx}** · baseline `{baseline.baseline_id}` ({baseline.n_rows} rows)"))

# %%
drift_step = step or ("1h" if ctx.window.seconds <= 3 * 86400 else "1d")
history = drift.drift_series(ctx.prom, baseline, ctx.window.start, ctx.window.end, drift_step,
                             model_name=model_name, thresholds=thresholds)
has_data = not history.empty
if not has_data:
    display(Markdown(f"**No drift data for `{model_name}` between {ctx.window.start} and "
                     f"{ctx.window.end}.** Is the service scraped by {ctx.prom.url}, and does it "
                     "export `ml_feature_value` with this baseline's buckets? Pick another window "
                     "or start the stack with `mlmon-nb stack up`."))

# %% [markdown]
# ## Drift history per feature

# %%
numeric = [f for f in baseline.numeric]
plots.series_grid(widgets.history_panels(history, "ks", thresholds, numeric),
                  title=f"Binned KS per {drift_step} against the baseline") if has_data else None

# %%
plots.series_grid(widgets.history_panels(history, "psi", thresholds),
                  title=f"PSI per {drift_step} (confidence = concept drift)") if has_data else None

# %% [markdown]
# ## The most drifted features over the whole window

# %%
counts = drift.window_counts(ctx.prom, baseline, time=ctx.window.end,
                            window=ctx.window.duration, model_name=model_name)
overall = drift.counts_drift(counts, thresholds=thresholds)
ranked = overall.sort_values("statistic", ascending=False)[
    ["feature", "kind", "test", "statistic", "n", "severity"]]
ranked.style.hide(axis="index").format({"statistic": "{:.4f}", "n": "{:,.0f}"})

# %% [markdown]
# ## Reference against current distributions

# %%
top = list(dict.fromkeys(ranked[ranked["test"] == "psi"]["feature"]))[:3]
for feature in top:
    display(widgets.distribution_figure(widgets.distribution_frame(counts[feature]),
                                        f"{feature}: training baseline vs this window"))

# %% [markdown]
# ## The sample size behind each point

# %%
sizes = history[history["test"] == "psi"].pivot_table(index="timestamp", columns="feature",
                                                      values="n") if has_data else history
plots.series(sizes, f"Values per {drift_step} behind each drift point", "count") if has_data \
    else None

# %%
worst = ranked[ranked["severity"] != "none"]
print("no data in this window" if not has_data else
      "drift: " + (", ".join(f"{r.feature} {r.test}={r.statistic:.3f} ({r.severity})"
                             for r in worst.itertuples()) or "none"))
