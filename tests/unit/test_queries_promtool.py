"""The queries the runbooks and notebooks read, on Prometheus's own engine (promtool): a ratio
whose numerator counter has no series yet is 0, not no data."""

from __future__ import annotations

from promtool_support import counter, run_promtool, series

from mlmon_nb import queries as q


def test_a_ratio_before_its_first_bad_event_is_zero_and_without_events_none(tmp_path):
    # a service that has served requests and predictions, none failed, none unsure, and whose
    # labels so far were all wrong: the error counter, the low-confidence counter and the
    # correct outcomes have no series (a labelled counter exists from its first increment);
    # model "idle" has series but no traffic
    inputs = [series("ml_requests_total", counter((30, 60)), model_version="1",
                     endpoint="/predict"),
              series("ml_predictions_total", counter((30, 60)), model_version="1",
                     predicted_class="positive"),
              series("ml_ground_truth_total", counter((30, 6)), model_version="1",
                     segment="all", outcome="incorrect"),
              series("ml_requests_total", "0+0x30", model_name="idle", model_version="1",
                     endpoint="/predict")]
    model = '{model_name="sentiment_classifier"}'
    zero = [{"labels": model, "value": 0}]
    checks = [(q.error_ratio("sentiment_classifier"), zero),
              (q.low_confidence_share("sentiment_classifier", "30m"), zero),
              (q.accuracy("sentiment_classifier", "30m"), zero),
              (q.accuracy("sentiment_classifier", "30m", by=("segment",)),
               [{"labels": '{model_name="sentiment_classifier",segment="all"}', "value": 0}]),
              (q.error_ratio("idle"), [])]
    run_promtool(tmp_path, inputs, [], promql_tests=[
        {"expr": expr, "eval_time": "25m", "exp_samples": expected}
        for expr, expected in checks])
