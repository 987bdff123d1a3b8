"""ModelMonitor: RED metrics, predictions, ground truth and drift inputs of one model.

Everything on the request path is counting (and, with a baseline's joint structure, one small
matrix product in plain Python): no I/O except the optional review sink for sampled
predictions. Bad input is counted in ``ml_feature_invalid_total{reason}`` and never raised;
label values are capped so no input can create unbounded series.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import numbers
import time
import uuid
from typing import Any, Callable, Iterable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry

from .. import metrics as m
from ..errors import InstrumentError
from ..estimated.reliability import binary_purity
from ..estimated.scaling import scaled_confidence
from ._baseline import baseline_series, serving_of
from ._families import families_for
from ._labels import LabelCap, label_text
from ._multiprocess import ensure_multiprocess_dir, is_multiprocess
from ._pending import SHARED_FILE, PendingStore, SharedPendingStore
from ._reconstruction import bounded, reconstruction_error, residuals
from ._request import CURRENT
from ._review import GroundTruthSampler, ReviewItem

__all__ = ["ModelMonitor", "DEFAULT_SEGMENT", "INVALID_REASONS", "RESIDUAL_STRIDE"]

log = logging.getLogger(__name__)

DEFAULT_SEGMENT = "all"
INVALID_REASONS = ("missing", "nan", "inf", "out_of_range", "wrong_type", "unknown_feature",
                   "internal_error")
# how far beyond [0, 1] a confidence may stray by rounding (a softmax's sum) and be clipped
CONFIDENCE_SLACK = 1e-9
# one prediction in this many adds its per-feature reconstruction residuals (the runbook's
# ranking of the features behind the error needs shares, not every prediction; it costs k·d
# multiplications and d counter updates more)
RESIDUAL_STRIDE = 16


class _Joint:
    """The multivariate check of a monitor: the baseline's joint structure and its series."""

    __slots__ = ("features", "mean", "inverse", "components", "error", "residuals", "samples",
                 "countdown")

    def __init__(self, joint, error, residuals, samples):
        self.features = joint.features
        self.mean = joint.mean
        self.inverse = tuple(1.0 / s for s in joint.scale)  # multiplying is cheaper
        self.components = joint.components
        self.error = error  # ml_reconstruction_error's child
        self.residuals = residuals  # ml_feature_reconstruction_residual_total's, per feature
        self.samples = samples
        self.countdown = 1  # the first prediction is sampled


def _number(value: Any) -> tuple[float | None, str]:
    """A finite float, or None and the reason it is invalid."""
    t = type(value)
    if t is float:
        x = value
    elif value is None:
        return None, "missing"
    elif t is bool or not isinstance(value, numbers.Real):
        return None, "wrong_type"
    else:
        try:
            x = float(value)
        except OverflowError:  # an int beyond float range
            return None, "inf"
        except (TypeError, ValueError):
            return None, "wrong_type"
    if x != x:
        return None, "nan"
    if x in (math.inf, -math.inf):
        return None, "inf"
    return x, ""


def _confidence(value: Any) -> tuple[float | None, str]:
    """A confidence in [0, 1] (a rounding error beyond it clipped), or None and the reason it is
    invalid: a percentage or a logit would land every prediction in one bucket and read as
    certainty to the estimated accuracy."""
    x, reason = _number(value)
    if x is None:
        return None, reason
    if -CONFIDENCE_SLACK <= x <= 1.0 + CONFIDENCE_SLACK:
        return min(max(x, 0.0), 1.0), ""
    return None, "out_of_range"


def _purity(confidence: float, scores: Any) -> tuple[float, bool, list[float] | None]:
    """Σ score² of a prediction's class scores, whether they were valid, and the scores; a
    binary model's (the confidence and the rest on one class) and None without them or when
    they are not at least two numbers in [0, 1]."""
    if scores is not None:
        try:
            values = [float(v) for v in (scores.values() if isinstance(scores, Mapping)
                                         else scores)]
        except (TypeError, ValueError, OverflowError):
            values = []
        if len(values) >= 2 and all(0.0 <= v <= 1.0 for v in values):
            return min(sum(v * v for v in values), 1.0), True, values
    return binary_purity(confidence), scores is None, None


def _category(value: Any) -> tuple[str | None, str]:
    """A category's text, or None and the reason it is invalid."""
    t = type(value)
    if t is str:
        return value, ""
    if value is None or (t is float and value != value):
        return None, "missing"
    if t is int or isinstance(value, numbers.Integral) and t is not bool:
        return str(value), ""
    return None, "wrong_type"


def _latency_buckets(values: Iterable[float]) -> tuple[float, ...]:
    """Sorted, distinct, finite upper bounds (``+Inf`` is implicit)."""
    values = tuple(values)
    try:
        edges = sorted({float(v) for v in values} - {math.inf})
    except (TypeError, ValueError) as exc:
        raise InstrumentError(f"latency_buckets must be numbers of seconds: {exc}") from None
    if not edges or not all(math.isfinite(e) for e in edges):
        raise InstrumentError(f"latency_buckets must hold finite upper bounds in seconds, "
                              f"got {list(values)!r}")
    return tuple(edges)


def _check_arguments(model_name: Any, model_version: Any, baseline: Any, segments: Any) -> None:
    """Refuse, with what to pass instead, the arguments that would silently export nonsense."""
    if isinstance(model_name, str) and (model_name.endswith(".json") or "/" in model_name
                                        or "\\" in model_name):
        raise InstrumentError(
            f"ModelMonitor takes the model's name first, not a baseline file ({model_name!r}): "
            f"ModelMonitor(\"<model name>\", baseline=load_baseline({model_name!r}))")
    if isinstance(model_name, str) and model_name:
        if problem := m.model_name_problem(model_name):
            raise InstrumentError(f"model_name {problem}: the rules, the configuration and the "
                                  f"runbooks know a model by this label")
    elif hasattr(model_name, "name") and hasattr(model_name, "slo"):  # a config.ModelConfig
        raise InstrumentError(
            f"ModelMonitor takes the model's name, not its {type(model_name).__name__}: "
            f"ModelMonitor(model.name, model_version=model.version, "
            f"low_confidence_threshold=model.low_confidence_threshold)")
    else:
        raise InstrumentError(f"model_name must be a non-empty string (the model_name label), "
                              f"got {model_name!r}")
    if not isinstance(model_version, (str, int, float)):
        raise InstrumentError(f"model_version must be a string such as \"1.0.0\", got "
                              f"{type(model_version).__name__}")
    if baseline is not None and not (hasattr(baseline, "numeric")
                                     and hasattr(baseline, "categorical")):
        raise InstrumentError(
            f"baseline must be a loaded baseline, got {type(baseline).__name__}: pass "
            f"baseline=load_baseline(path) (mlmon_nb.instrument) or Baseline.load(path)")
    taken = [] if baseline is None else [
        f for f in (*baseline.numeric, *baseline.categorical) if f in m.RESERVED_FEATURES]
    if taken:
        raise InstrumentError(f"the baseline has a feature named {taken[0]!r}, the name the "
                              f"service counts its own invalid inputs under; rename the column "
                              f"and rebuild the baseline")
    if isinstance(segments, str):
        raise InstrumentError(f"segments must be a list of segment names, not the string "
                              f"{segments!r}; write segments=[{segments!r}]")


class _CategoricalFeature:
    __slots__ = ("fold", "children")

    def __init__(self, fold: LabelCap):
        self.fold = fold
        self.children: dict[str, Any] = {}


class _Track:
    """``monitor.track(endpoint)``: a decorator and a (sync or async) context manager."""

    __slots__ = ("_monitor", "_endpoint", "_starts")

    def __init__(self, monitor: ModelMonitor, endpoint: str):
        self._monitor = monitor
        self._endpoint = endpoint
        self._starts: list[float | None] = []

    def __call__(self, fn: Callable) -> Callable:
        begin, end, endpoint = self._monitor._begin_track, self._monitor._end_track, self._endpoint
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                start = begin()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    end(endpoint, start, exc)
                    raise
                end(endpoint, start, None)
                return result
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = begin()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                end(endpoint, start, exc)
                raise
            end(endpoint, start, None)
            return result
        return wrapper

    def __enter__(self) -> _Track:
        self._starts.append(self._monitor._begin_track())
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._monitor._end_track(self._endpoint, self._starts.pop(), exc)

    async def __aenter__(self) -> _Track:
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> None:
        self.__exit__(exc_type, exc, tb)


class ModelMonitor:
    """Instruments one model inside its serving process.

    Parameters
    ----------
    model_name, model_version
        Label values of every series (``model_version`` on requests, errors, predictions,
        confidence, ground truth, feature values and model info: a canary is judged on its own).
    baseline
        A :class:`mlmon_nb.Baseline`, or :func:`load_baseline`'s standard-library reading of the
        same file (anything with their ``numeric``/``categorical``/``baseline_id`` attributes):
        feature histograms use its quantile edges as buckets and its
        cumulative fractions are exported as ``ml_feature_baseline_ratio``. With its joint
        structure (``mlmon_nb.baseline.joint``), each prediction's reconstruction error is observed
        in ``ml_reconstruction_error`` (the baseline's buckets; a few microseconds at 10 numeric
        features) and one prediction in :data:`RESIDUAL_STRIDE` adds each feature's residual to
        ``ml_feature_reconstruction_residual_total``. Without one, numeric features use
        ``metrics.DEFAULT_FEATURE_BUCKETS``.
    registry
        Where the metrics live (default: prometheus-client's global registry). Monitors of several
        models may share one registry.
    low_confidence_threshold
        Predictions under it count in ``ml_low_confidence_predictions_total``.
    latency_buckets
        Request-duration buckets (default ``metrics.DEFAULT_LATENCY_BUCKETS``); every latency SLO
        threshold must be one of them.
    segments
        The allowed ground-truth segment values; others count as ``__other__``. Default: any,
        up to ``max_label_values``.
    sampler
        A :class:`GroundTruthSampler` that hands a share of predictions to human review.
    max_pending, max_pending_age
        Bounds of the pending-prediction store for the feedback join (count, seconds). In
        multiprocess mode the store is shared by all workers (an SQLite file in the metrics
        directory), so feedback may reach any worker.
    max_label_values
        The cardinality cap of each free-form label (endpoint, error type, class, segment,
        feature names without a baseline, categories without a baseline).
    endpoints, error_types, classes
        Label values known in advance. Their series are exported at zero from the start —
        requests and durations per endpoint, errors per endpoint and error type, predictions per
        class, and ground truth per segment (with ``segments``) and outcome — so ``rate()`` counts
        the first request, error or prediction too, and an alert's evidence is zero rather than
        missing before traffic arrives.
    """

    def __init__(self, model_name: str, *, model_version: str = "", baseline: Any = None,
                 registry: CollectorRegistry | None = None, low_confidence_threshold: float = 0.7,
                 latency_buckets: Iterable[float] | None = None,
                 segments: Iterable[str] | None = None, sampler: GroundTruthSampler | None = None,
                 max_pending: int = 10_000, max_pending_age: float = 3600.0,
                 max_label_values: int = 100, clock: Callable[[], float] = time.monotonic,
                 endpoints: Iterable[str] = (), error_types: Iterable[str] = (),
                 classes: Iterable[str] = ()):
        _check_arguments(model_name, model_version, baseline, segments)
        for arg, values in (("endpoints", endpoints), ("error_types", error_types),
                            ("classes", classes)):
            if isinstance(values, str):
                raise InstrumentError(f"{arg} must be a list of names, not the string "
                                      f"{values!r}; write {arg}=[{values!r}]")
        if baseline is not None and getattr(baseline, "model_name", model_name) != model_name:
            raise InstrumentError(f"the baseline is of model {baseline.model_name!r}, not "
                                  f"{model_name!r}; load the baseline of this model")
        buckets = _latency_buckets(latency_buckets or m.DEFAULT_LATENCY_BUCKETS)
        self.model_name = model_name
        self.model_version = str(model_version)
        self.baseline = baseline
        self.baseline_id = str(getattr(baseline, "baseline_id", "") or "none")
        self.registry = REGISTRY if registry is None else registry
        self.low_confidence_threshold = float(low_confidence_threshold)
        self.sampler = sampler
        self.multiprocess = is_multiprocess()
        mp_dir = ensure_multiprocess_dir() if self.multiprocess else None
        fam = self._fam = families_for(self.registry, buckets, self.multiprocess)
        # the hot-path children take no lock of their own in one process: one lock per phase
        self._lock = contextlib.nullcontext() if self.multiprocess else fam.lock
        self._max_labels = max_label_values
        name = model_name

        def overflow(label: str) -> Callable[[], None]:
            child = fam.overflow.labels(name, label)
            return child.inc

        self._endpoint = LabelCap(max_label_values, overflow("endpoint"))
        self._error_type = LabelCap(max_label_values, overflow("error_type"))
        self._klass = LabelCap(max_label_values, overflow("predicted_class"))
        self._feature_name = LabelCap(max_label_values, overflow("feature"))
        allowed = None if segments is None else tuple(str(s) for s in segments) + (DEFAULT_SEGMENT,)
        self._segment = LabelCap(max_label_values, overflow("segment"), allowed=allowed,
                                 fallback=m.OTHER_CATEGORY if allowed else m.OVERFLOW_VALUE)
        self._category_overflow = overflow("category")
        self._pending: PendingStore | SharedPendingStore
        if mp_dir is not None:
            self._pending = SharedPendingStore(mp_dir / SHARED_FILE, model_name, max_pending,
                                               max_pending_age, self._count_evicted, clock)
        else:
            self._pending = PendingStore(max_pending, max_pending_age, self._count_evicted, clock)

        self._in_progress = fam.in_progress.labels(name)
        self._confidence = fam.confidence.labels(name, self.model_version)
        self._low_confidence = fam.low_confidence.labels(name, self.model_version)
        self._purity = fam.purity.labels(name, self.model_version)
        # under a curve that scales the class scores: its counter, temperature and classes
        self._scaled: Any = None
        self._scaling = (1.0, 2)
        self._per_endpoint: dict[str, tuple[str, Any, Any]] = {}
        self._errors: dict[tuple[str, str], Any] = {}
        self._predicted: dict[str, Any] = {}
        self._invalid: dict[tuple[str, str], Any] = {}
        self._truth: dict[tuple[str, str], Any] = {}
        self._unmatched = {r: fam.unmatched.labels(name, r) for r in ("unknown", "expired")}
        self._review = {r: fam.review.labels(name, r) for r in ("sent", "failed")}
        self._numeric: dict[str, Any] = {}  # feature -> its histogram child
        self._categorical: dict[str, _CategoricalFeature] = {}
        self._expected: tuple[str, ...] = ()
        self._joint: _Joint | None = None
        self._open_features = baseline is None
        fam.model_info.labels(name, self.model_version, self.baseline_id).set(1)
        if baseline is not None:
            self._load_baseline(baseline)
        self._export_known(tuple(endpoints), tuple(error_types), tuple(classes),
                           () if allowed is None else allowed)

    def _export_known(self, endpoints: tuple[str, ...], error_types: tuple[str, ...],
                      classes: tuple[str, ...], segments: tuple[str, ...]) -> None:
        """Create the series of label values known in advance, at zero (see the class doc)."""
        for endpoint in endpoints:
            self._endpoint_children(endpoint)
            for error_type in error_types:
                key = (endpoint, error_type)
                self._errors[key] = self._fam.errors.labels(
                    self.model_name, self.model_version, self._endpoint(endpoint),
                    self._error_type(error_type))
        for label in classes:
            self._prediction_child(label)
        for segment in dict.fromkeys(segments):
            for outcome in ("correct", "incorrect"):
                key = (self._segment(segment), outcome)
                self._truth[key] = self._fam.ground_truth.labels(self.model_name, self.model_version, *key)

    # -- setup -----------------------------------------------------------------------------

    def _load_baseline(self, baseline: Any) -> None:
        fam = self._fam
        for feature, stats in baseline.numeric.items():
            edges = [float(e) for e in stats.edges]
            self._numeric[feature] = fam.features.labels(self.model_name, self.model_version,
                                                         feature, buckets=edges)
        serving = serving_of(baseline)
        if serving.calibration_scaling != 1.0:
            self._scaled = fam.scaled.labels(self.model_name, self.model_version)
            self._scaling = (serving.calibration_scaling, serving.calibration_classes)
        for spec, labels, value in baseline_series(serving, self.model_version):
            fam.baseline_series.set(spec, labels, value)
        joint = serving.joint
        if joint is not None:
            self._joint = _Joint(
                joint, fam.reconstruction.labels(self.model_name, self.model_version,
                                          buckets=list(joint.edges)),
                [fam.residual.labels(self.model_name, f) for f in joint.features],
                fam.residual_samples.labels(self.model_name))
        for feature, stats in baseline.categorical.items():
            top = tuple(str(c) for c in stats.categories)
            self._categorical[feature] = _CategoricalFeature(
                LabelCap(max(len(top), 1), allowed=top, fallback=m.OTHER_CATEGORY))
        self._expected = tuple(self._numeric) + tuple(self._categorical)

    # -- requests --------------------------------------------------------------------------

    def track(self, endpoint: str) -> _Track:
        """Count a request to ``endpoint``: as ``@monitor.track("predict")`` on a sync or async
        function, or as ``with``/``async with monitor.track("predict"):``.

        Counts the request, its duration and the in-flight gauge; on an exception, its type in
        ``ml_errors_total`` (the exception is re-raised unchanged). Inside a request that this
        monitor's :class:`MetricsMiddleware` counts, it counts nothing (one request, one count).
        """
        return _Track(self, endpoint)

    def _begin_track(self) -> float | None:
        """``track``'s start: None inside a request this monitor's middleware already counts."""
        scope = CURRENT.get()
        if scope is not None and scope.monitor is self:
            return None
        return self._begin()

    def _end_track(self, endpoint: str, start: float | None, exc: BaseException | None) -> None:
        if start is not None:
            self._end(endpoint, start, exc)
            return
        scope = CURRENT.get()
        if exc is not None and scope is not None and scope.error_type is None:
            scope.error_type = type(exc).__name__  # for the middleware, if it becomes a 5xx

    def _begin(self) -> float:
        with self._lock:
            self._in_progress.inc()
        return time.perf_counter()

    def _end(self, endpoint: str, start: float, exc: BaseException | None) -> str | None:
        """Count a finished request; the endpoint label it was counted under (None when it
        could not be), so its error is counted under the same one and a folded endpoint is
        counted as overflowing once per request."""
        elapsed = time.perf_counter() - start
        try:
            children = self._per_endpoint.get(endpoint) if type(endpoint) is str else None
            if children is None:
                children = self._endpoint_children(endpoint)
        except Exception:  # the request's own outcome must win over our bookkeeping
            log.exception("mlmon_nb: failed to record a request of %r", endpoint)
            children = None
        with self._lock:
            self._in_progress.dec()
            if children is not None:
                children[1].inc()
                children[2].observe(elapsed)
        label = None if children is None else children[0]
        if exc is not None:
            self._count_error(endpoint, label, type(exc).__name__)
        return label

    def _endpoint_children(self, endpoint: Any) -> tuple[str, Any, Any]:
        value = self._endpoint(endpoint)
        children = (value, self._fam.requests.labels(self.model_name, self.model_version, value),
                    self._fam.duration.labels(self.model_name, value))
        if value == endpoint and type(endpoint) is str:
            self._per_endpoint[endpoint] = children
        return children

    def record_error(self, endpoint: str, error_type: str) -> None:
        """Count an error that did not surface as an exception (e.g. an HTTP 5xx response)."""
        self._count_error(endpoint, None, error_type)

    def _count_error(self, endpoint: Any, label: str | None, error_type: str) -> None:
        """One error of ``endpoint``; ``label`` is the endpoint label its request was already
        counted under (else the endpoint's cap is asked)."""
        try:
            cacheable = type(endpoint) is str and type(error_type) is str
            key = (endpoint, error_type)
            child = self._errors.get(key) if cacheable else None
            if child is None:
                value = self._endpoint(endpoint) if label is None else label
                child = self._fam.errors.labels(self.model_name, self.model_version, value,
                                                self._error_type(error_type))
                if cacheable:
                    self._errors[key] = child
            child.inc()
        except Exception:
            log.exception("mlmon_nb: failed to record an error of %r", endpoint)

    # -- predictions -----------------------------------------------------------------------

    def record_prediction(self, label: str, confidence: float, *,
                          features: Mapping[str, Any] | None = None,
                          request_id: str | None = None, segment: str | None = None,
                          scores: Iterable[float] | Mapping[str, float] | None = None) -> bool:
        """Count a prediction, its confidence and its input features; never raises.

        ``scores``: every class's score (a multiclass model's probabilities, a sequence or a
        mapping by class): their purity, Σ score², is what a calibration fitted with class
        scores weighs (without them, or if one is not a number in [0, 1], the purity of a binary
        model's scores, confidence² + (1 − confidence)²); under a curve that scales them by a
        temperature, their scaled top score is counted too (without them, the confidence's, the
        rest spread evenly over the other classes). With ``request_id`` the prediction waits
        (bounded) for :meth:`record_feedback`. Returns whether the review sampler picked it for
        human review.
        """
        try:
            return self._record_prediction(label, confidence, features, request_id, segment,
                                           scores)
        except Exception:
            log.exception("mlmon_nb: failed to record a prediction")
            self._count_invalid(m.RECORD_FEATURE, "internal_error")
            return False

    def _record_prediction(self, label, confidence, features, request_id, segment,
                           scores) -> bool:
        child = self._predicted.get(label) if type(label) is str else None
        if child is None:
            child = self._prediction_child(label)
        conf: float | None
        if type(confidence) is float and 0.0 <= confidence <= 1.0:  # the common case
            conf, reason = confidence, ""
        else:
            conf, reason = _confidence(confidence)
        purity, scores_ok, values = (None, True, None) if conf is None else _purity(conf, scores)
        scaled = (None if conf is None or self._scaled is None else
                  scaled_confidence(conf, *self._scaling, values))
        mapping = features is None or isinstance(features, Mapping)
        failed = False
        with self._lock:
            child.inc()
            if conf is not None:
                self._confidence.observe(conf)
                self._purity.inc(purity)
                if scaled is not None:
                    self._scaled.inc(scaled)
                if conf < self.low_confidence_threshold:
                    self._low_confidence.inc()
            if features is not None and mapping:
                try:
                    self._record_features(features)
                    if self._joint is not None:
                        self._record_joint(self._joint, features)
                except Exception:  # the prediction still counts and still waits for its label
                    log.exception("mlmon_nb: failed to record a prediction's features")
                    failed = True
        if failed:
            self._count_invalid(m.RECORD_FEATURE, "internal_error")
        if not mapping:
            self._count_invalid(m.FEATURES_FEATURE, "wrong_type")
        if conf is None:
            self._count_invalid(m.CONFIDENCE_FEATURE, reason)
        if not scores_ok:
            self._count_invalid(m.SCORES_FEATURE, "wrong_type")
        picked = self.sampler is not None and self.sampler.picks()
        if request_id is None and not picked:
            return False
        rid = label_text(request_id) if request_id is not None else uuid.uuid4().hex
        seg = self._segment(DEFAULT_SEGMENT if segment is None else segment)
        self._pending.put(rid, label_text(label), seg)
        if picked:
            self._send_for_review(rid, label, conf, seg, features if mapping else None)
        return picked

    def _prediction_child(self, label: Any):
        value = self._klass(label)
        child = self._fam.predictions.labels(self.model_name, self.model_version, value)
        if value == label and type(label) is str:
            self._predicted[label] = child
        return child

    def _record_features(self, features: Mapping[str, Any]) -> None:
        """Count each feature value (the caller holds ``self._lock``)."""
        numeric, categorical = self._numeric, self._categorical
        seen = 0
        for name, value in features.items():
            feat = numeric.get(name)
            if feat is not None:
                seen += 1
                if type(value) is float and value - value == 0.0:  # finite: the common case
                    feat.observe(value)
                    continue
                x, reason = _number(value)
                if x is None:
                    self._count_invalid(name, reason)
                else:
                    feat.observe(x)
                continue
            cat = categorical.get(name)
            if cat is not None:
                seen += 1
                child = cat.children.get(value) if type(value) is str else None
                if child is None:
                    self._record_category(name, cat, value)
                else:
                    child.inc()
                continue
            self._record_unexpected(name, value)
        if seen < len(self._expected):
            for name in self._expected:
                if name not in features:
                    self._count_invalid(name, "missing")

    def _record_joint(self, joint: _Joint, features: Mapping[str, Any]) -> None:
        """Observe the prediction's reconstruction error (the caller holds ``self._lock``).

        ``instrument.standardize`` written for speed (it is most of the cost): one pass when
        every value is a finite number, else value by value with a missing or invalid one as
        the baseline's mean (``z = 0``)."""
        values = list(map(features.get, joint.features))
        try:
            z = [(x - mu) * inv for x, mu, inv in zip(values, joint.mean, joint.inverse)]
            total = sum(z)
            # real and finite: no NaN, infinity or complex among them, and no bool (a number to
            # arithmetic, a wrong type to the feature counts: the mean, as every invalid value)
            clean = (isinstance(total, float) and total - total == 0.0
                     and bool not in map(type, values))
        except (TypeError, OverflowError):  # None, text, an int beyond float range, …
            clean = False
        if not clean:
            numbers = [_number(x)[0] for x in values]
            z = [0.0 if x is None else (x - mu) * inv
                 for x, mu, inv in zip(numbers, joint.mean, joint.inverse)]
        try:
            error = reconstruction_error(z, joint.components)
        except OverflowError:  # a finite value whose square, or whose z, is not
            z = bounded(z)
            error = reconstruction_error(z, joint.components)
        joint.error.observe(error)
        joint.countdown -= 1
        if joint.countdown == 0:
            joint.countdown = RESIDUAL_STRIDE
            try:
                parts = residuals(z, joint.components)
            except OverflowError:  # a counter once +Inf or NaN is lost for good
                parts = residuals(bounded(z), joint.components)
            for child, residual in zip(joint.residuals, parts):
                child.inc(residual)
            joint.samples.inc()

    def _record_category(self, name: str, cat: _CategoricalFeature, value: Any) -> None:
        text, reason = _category(value)
        if text is None:
            self._count_invalid(name, reason)
            return
        child = cat.children.get(text)
        if child is None:
            folded = cat.fold(text)
            child = self._fam.category.labels(self.model_name, name, folded)
            if folded == text:
                cat.children[text] = child
        child.inc()

    def _record_unexpected(self, name: Any, value: Any) -> None:
        """A feature the baseline does not know; without a baseline, learn it (capped)."""
        if not self._open_features or type(name) is not str:
            self._count_invalid(name, "unknown_feature")
            return
        folded = self._feature_name(name)
        if folded != name:
            self._count_invalid(folded, "unknown_feature")
            return
        x, reason = _number(value)
        if x is not None:
            series = self._numeric[name] = self._fam.features.labels(
                self.model_name, self.model_version, name, buckets=m.DEFAULT_FEATURE_BUCKETS)
            series.observe(x)
            return
        if type(value) is str:
            cat = self._categorical[name] = _CategoricalFeature(
                LabelCap(self._max_labels, self._category_overflow, fallback=m.OTHER_CATEGORY))
            self._record_category(name, cat, value)
            return
        self._count_invalid(name, reason)

    def _count_invalid(self, feature: Any, reason: str) -> None:
        key = (feature, reason) if type(feature) is str else None
        child = self._invalid.get(key) if key else None
        if child is None:
            fixed = key is not None and (feature in self._numeric or feature in self._categorical
                                         or feature in m.RESERVED_FEATURES)
            value = feature if fixed else self._feature_name(feature)
            child = self._fam.invalid.labels(self.model_name, value, reason)
            if key is not None and value == feature:
                self._invalid[key] = child
        child.inc()

    # -- ground truth ----------------------------------------------------------------------

    def _send_for_review(self, rid: str, label: Any, conf: float | None, segment: str,
                         features: Mapping[str, Any] | None) -> None:
        item = ReviewItem(rid, self.model_name, self.model_version, label_text(label),
                          float("nan") if conf is None else conf, segment, time.time(),
                          dict(features) if features else {})
        try:
            self.sampler.sink(item)  # type: ignore[union-attr]
        except Exception:
            log.exception("mlmon_nb: the review sink failed")
            self._review["failed"].inc()
        else:
            self._review["sent"].inc()

    def record_feedback(self, request_id: str, true_label: str) -> bool:
        """Join a true label with its pending prediction and count correct/incorrect per segment.

        Returns False (and counts ``ml_feedback_unmatched_total{reason}``) for an unknown or
        expired request id; never raises.
        """
        try:
            item, outcome = self._pending.pop(label_text(request_id))
            if item is None:
                self._unmatched[outcome].inc()
                return False
            result = "correct" if item.label == label_text(true_label) else "incorrect"
            key = (item.segment, result)
            child = self._truth.get(key)
            if child is None:
                child = self._truth[key] = self._fam.ground_truth.labels(
                    self.model_name, self.model_version, *key)
            child.inc()
            return True
        except Exception:
            log.exception("mlmon_nb: failed to record feedback")
            return False

    def _count_evicted(self, reason: str, n: int) -> None:
        self._fam.evicted.labels(self.model_name, reason).inc(n)

    @property
    def pending(self) -> int:
        """How many predictions wait for feedback."""
        return len(self._pending)
