# %% [markdown]
# # System health
#
# Healthy or not, in five seconds: request rate against its normal level, error ratio, P95 latency against the SLO and accuracy, judged against `mlmon.yaml`; then their series over the window.

# %% tags=["parameters"]
model_name = "sentiment_classifier"
prometheus_url = ""  # empty: MLMON_PROMETHEUS_URL, then the configuration
start = ""           # ISO-8601, unix seconds or now-6h; empty: end - window
end = ""             # empty: now
window = "6h"        # used when start is empty
step = ""            # empty: automatic

# %%
from IPython.display import Markdown, display

from mlmon_nb import dashboards, plots
from mlmon_nb.context import notebook_context

ctx = notebook_context(model_name, prometheus_url, start, end, window, step)
display(Markdown(f"**{ctx.model_name}** · {ctx.window} · <{ctx.prom.url}>"))

# %%
tiles = dashboards.health_tiles(ctx)
has_data = any(t.status != "unknown" for t in tiles)
if not has_data:
    display(Markdown(f"**No data for model `{model_name}` between {ctx.window.start} and "
                     f"{ctx.window.end}.** Is the service scraped by <{ctx.prom.url}>? "
                     "Pick another window (`start`/`end`/`window`) or start the stack with "
                     "`mlmon-nb stack up`."))
plots.tiles(tiles, title=f"{model_name} at {ctx.window.end:%Y-%m-%d %H:%M} UTC")

# %% [markdown]
# ## Over the window

# %%
rate_tile, error_tile, latency_tile, accuracy_tile = tiles
series = dashboards.health_series(ctx)
plots.series_grid([
    dict(data=series["request_rate"], title="Request rate", ylabel="req/s",
         thresholds={"normal": (rate_tile.reference, "info"),
                     "throughput SLO": (ctx.model.slo.throughput_min_rps, "critical")}),
    dict(data=series["error_ratio"], title="Error ratio", percent=True,
         thresholds={"warning": (ctx.model.alerts.error_ratio_warning, "warning"),
                     "critical": (ctx.model.alerts.error_ratio_critical, "critical")}),
    dict(data=series["latency"], title="Latency P50 / P95 / P99",
         ylabel="seconds", columns="quantile",
         thresholds={"SLO": (ctx.model.slo.latency_threshold_seconds, "warning")}),
    dict(data=series["accuracy"], title="Accuracy (ground truth, 1h)",
         percent=True,
         thresholds={"objective": (ctx.model.slo.accuracy_objective, "ok"),
                     "minimum": (ctx.model.alerts.accuracy_min, "critical")}),
])

# %%
summary = {t.title: t.status for t in tiles}
print("no data in this window" if not has_data else
      ", ".join(f"{k}: {v}" for k, v in summary.items()))
