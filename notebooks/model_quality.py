# %% [markdown]
# # Model quality
#
# What the model predicts and how sure it is: the predicted-class distribution over time against the training baseline, the confidence histogram, the low-confidence share, accuracy per segment on the ground-truth sample, and the accuracy estimated from the confidences (through the baseline's calibration) against the realized accuracy, with the gap between them.

# %% tags=["parameters"]
model_name = "sentiment_classifier"
prometheus_url = ""  # empty: MLMON_PROMETHEUS_URL, then the configuration
start = ""           # ISO-8601, unix seconds or now-6h; empty: end - window
end = ""             # empty: now
window = "6h"        # used when start is empty
step = ""            # empty: automatic
baseline_path = ""   # empty: the model's configured baseline (its calibration gives the estimate)

# %%
from IPython.display import Markdown, display

from mlmon_nb import dashboards, plots
from mlmon_nb.context import notebook_context

ctx = notebook_context(model_name, prometheus_url, start, end, window, step, baseline_path)
display(Markdown(f"**{ctx}**"))

# %%
quality = dashboards.quality_series(ctx)
if quality["class_share"].empty:
    display(Markdown(f"**No predictions for model `{model_name}` in this window.** Pick another "
                     "window or check that the service is scraped."))
plots.shares(quality["class_share"], "Predicted-class distribution", columns="predicted_class")

# %%
plots.histogram(quality["confidence"], f"Confidence over the window ({ctx.window.duration})",
                xlabel="confidence of the predicted class",
                marker=(ctx.model.low_confidence_threshold, "low-confidence threshold"))

# %%
plots.series(quality["low_confidence_share"], "Low-confidence share", percent=True,
             thresholds={"alert": (ctx.model.alerts.low_confidence_share, "warning")})

# %%
segments = quality["accuracy_by_segment"]
display(segments)
plots.bars(segments.set_index("segment")["accuracy"],
           "Accuracy per segment over the window", percent=True,
           reference={"objective": (ctx.model.slo.accuracy_objective, "ok"),
                      "minimum": (ctx.model.alerts.accuracy_min, "critical")})

# %%
plots.series(quality["accuracy"], "Accuracy on the ground-truth sample (1h)", percent=True,
             thresholds={"objective": (ctx.model.slo.accuracy_objective, "ok"),
                         "minimum": (ctx.model.alerts.accuracy_min, "critical")})

# %%
estimates, why = dashboards.accuracy_estimates(ctx)
if why:
    display(Markdown(f"**{why}**"))
else:
    display(plots.series(estimates[["estimated", "lower", "upper", "realized"]].rename(
                             columns={"lower": "95% band, lower", "upper": "95% band, upper"}),
                         "Estimated (from the confidences, with its 95% band) and realized "
                         "accuracy (1h)",
                         percent=True,
                         thresholds={"minimum": (ctx.model.alerts.accuracy_min, "critical")}))

# %%
if not why:
    display(plots.series(estimates[["gap"]].rename(columns={"gap": "estimated − realized"}),
                         "Gap: estimated − realized accuracy", percent=True,
                         thresholds={"no gap": (0.0, "ok")}))
    display(Markdown(dashboards.GAP_NOTE))
    labelled = estimates.dropna(subset=["realized"])
    print(f"estimated accuracy points: {len(estimates)}; with labels: {len(labelled)}; "
          f"largest gap: {labelled['gap'].abs().max():.3f}" if len(labelled) else
          f"estimated accuracy points: {len(estimates)}; with labels: 0")

# %%
print("no data in this window" if quality["class_share"].empty else
      f"labelled predictions: {int(segments['labelled'].sum()) if not segments.empty else 0}")
