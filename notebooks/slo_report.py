# %% [markdown]
# # SLO report
#
# Compliance per SLO over the period (default: the model's SLO period from `mlmon.yaml`), error budget remaining and its burn-down, burn rates against the alert thresholds, and a monthly compliance table. Ratios are traffic-weighted and use the same PromQL as the generated SLO rules.

# %% tags=["parameters"]
model_name = "sentiment_classifier"
prometheus_url = ""  # empty: MLMON_PROMETHEUS_URL, then the configuration
start = ""           # ISO-8601, unix seconds or now-7d; empty: end - window
end = ""             # empty: now
window = ""          # empty: the model's SLO period (e.g. 30d)
step = ""            # burn-down resolution; empty: automatic

# %%
from IPython.display import Markdown, display

from mlmon_nb import plots, slo

ctx = slo.report_context(model_name, prometheus_url, start, end, window, step)
display(Markdown(f"**{ctx}**"))

# %% [markdown]
# ## Compliance over the period

# %%
table = slo.compliance_from(ctx.prom, ctx.model, ctx.window.start, ctx.window.end)
display(plots.tiles(slo.tiles(table), title=f"SLOs of {model_name}"))
table.style.format({"objective": "{:.2%}", "sli": "{:.3%}", "budget_remaining": "{:.1%}", "events": "{:,.0f}"})

# %% [markdown]
# ## Error budget burn-down
#
# Budget remaining from the start of the period to each point; below 0 the budget is overspent.

# %%
down = slo.burn_down_from(ctx.prom, ctx.model, ctx.window.start, ctx.window.end, ctx.window.step)
plots.series(down, "Error budget remaining", percent=True, columns="slo",
             thresholds={"budget spent": (0.0, "critical")})

# %% [markdown]
# ## Burn rates now
#
# Each multi-window alert fires when both its long and short window burn faster than its factor (14.4/6 page, 3/1 ticket for 30 days).

# %%
rates = slo.burn_rates_from(ctx.prom, ctx.model, ctx.window.end)
rates

# %% [markdown]
# ## Monthly compliance

# %%
monthly = slo.monthly_from(ctx.prom, ctx.model, ctx.window.start, ctx.window.end)
monthly.pivot_table(index="month", columns="slo", values="sli", aggfunc="first")

# %%
for row in table.to_dict("records"):
    print(f"{row['slo']}: {row['status']}")
firing = rates[rates.firing]
print("burning: " + (", ".join(f"{r.slo} {r.long_window}/{r.short_window}" for r in firing.itertuples()) or "none"))
