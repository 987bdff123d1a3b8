# %% [markdown]
# # Drift explorer
#
# Pick a model (the picker lists every model Prometheus knows, from one query; a model's baseline is read when it is picked), a feature, a date range, the reference (the training baseline, or the production window of the same length just before the range) and a test; the table and the plots update in place. A test that does not apply to the chosen feature (KS on a categorical feature) is replaced by PSI for its panels, and the status line says so. Headless runs (papermill, the HTML export) show the first view as a static table and images.

# %% tags=["parameters"]
model_name = "sentiment_classifier"
prometheus_url = ""  # empty: MLMON_PROMETHEUS_URL, then the configuration
start = ""           # ISO-8601, unix seconds or now-2d; empty: end - window
end = ""             # ISO-8601, unix seconds or now; empty: now
window = "24h"       # used when start is empty
step = ""            # one drift point per step; empty: 1h up to 3 days, else 1d
baseline_path = ""   # empty: the model's baseline from mlmon.yaml

# %%
from IPython.display import Markdown, display

from mlmon_nb import drift, widgets
from mlmon_nb.baseline import Baseline
from mlmon_nb.context import notebook_context

ctx = notebook_context(model_name, prometheus_url, start, end, window,
                       baseline_path=baseline_path)
drift_step = step or widgets.default_step(ctx.window.seconds)
baseline = Baseline.load(ctx.baseline_path)
thresholds = drift.thresholds_for(ctx.model)
display(Markdown(
    f"**model {model_name}** · {ctx.window.start:%Y-%m-%d %H:%M} → {ctx.window.end:%Y-%m-%d %H:%M} UTC "
    f"· drift per {drift_step} · {ctx.prom.url} · baseline `{baseline.baseline_id}` "
    f"({baseline.n_rows} rows)"))

# %%
# the picker lists every model Prometheus knows from one query (one series per model); another
# model's baseline is read only when it is picked, and its drift queries read that model only
fleet = widgets.fleet_models(ctx.prom, ctx.window.end)
explorer = widgets.DriftExplorer(
    ctx.prom, {model_name: baseline}, start=ctx.window.start, end=ctx.window.end,
    step=drift_step, thresholds=widgets.with_config_thresholds(ctx.config), models=fleet,
    load_baseline=lambda name: Baseline.load(ctx.config.baseline_path(name)))
explorer

# %% [markdown]
# The first view as static output: what an executed notebook and its HTML export show. The explorer above updates live; this snapshot does not.

# %%
explorer.snapshot()
