# %% [markdown]
# # Resources
#
# The service's process CPU and memory, the machine's CPU, memory and disk, and requests in flight.

# %% tags=["parameters"]
model_name = "sentiment_classifier"
prometheus_url = ""  # empty: MLMON_PROMETHEUS_URL, then the configuration
start = ""           # ISO-8601, unix seconds or now-6h; empty: end - window
end = ""             # empty: now
window = "6h"        # used when start is empty
step = ""            # empty: automatic
service_job = ""   # the Prometheus job scraping the model service; empty: the configured one

# %%
from IPython.display import Markdown, display

from mlmon_nb import dashboards, plots
from mlmon_nb.context import notebook_context

ctx = notebook_context(model_name, prometheus_url, start, end, window, step)
display(Markdown(f"**{ctx}**"))

# %%
service_job = service_job or ctx.model.job
res = dashboards.resource_series(ctx, job=service_job)
if all(frame.empty for frame in res.values()):
    display(Markdown("**No resource metrics in this window.** Is the node exporter (job `node`) and "
                     f"the service (job `{service_job}`) scraped by {ctx.prom.url}?"))
plots.series_grid([
    dict(data=res["process_cpu"], title="Service CPU", ylabel="cores"),
    dict(data=res["process_memory"], title="Service resident memory", ylabel="bytes"),
    dict(data=res["node_cpu"], title="Machine CPU busy", percent=True),
    dict(data=res["node_memory"], title="Machine memory used", percent=True),
    dict(data=res["node_disk"], title="Disk used per mountpoint", percent=True, columns="mountpoint",
         thresholds={"90%": (0.9, "warning")}),
    dict(data=res["in_flight"], title="Requests in flight", ylabel="requests"),
])

# %%
print("no data in this window" if all(f.empty for f in res.values()) else
      ", ".join(f"{k}: {len(v)} points" for k, v in res.items()))
