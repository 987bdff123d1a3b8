# %% [markdown]
# # Drift explorer
#
# Pick a model, a feature, a date range, the reference (the training baseline, or the production window of the same length just before the range) and a test; the table and the plots update in place. Headless runs show the first view.

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

from mlmon_nb import drift, widgets
from mlmon_nb import queries as q
from mlmon_nb.baseline import Baseline

ctx = q.notebook_context(model_name, prometheus_url, start, end, window, step="",
                         baseline_path=baseline_path)
baseline = Baseline.load(ctx.baseline_path)
thresholds = drift.thresholds_for(ctx.model)
display(Markdown(f"**{ctx}** · baseline `{baseline.baseline_id}` ({baseline.n_rows} rows)"))

# %%
explorer = widgets.DriftExplorer(
    ctx.prom, {model_name: baseline}, start=ctx.window.start, end=ctx.window.end,
    step=step or ("1h" if ctx.window.seconds <= 3 * 86400 else "1d"),
    thresholds=widgets.with_config_thresholds(ctx.config))
explorer.widget

# %%
view = explorer.view
print(explorer.status.value)
view.table if view is not None else None
