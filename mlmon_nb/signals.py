"""What a runbook investigates: the alert's condition and its signals.

A :class:`Condition` is the alert's own test (PromQL, threshold, direction) that decides
whether the run is still firing; a :class:`Signal` is a measure as a function of the ``rate()``
range, with its threshold, which way is bad, how it reads, the sample behind it and what a
missing point means. The factories build the signals of the metric contract
(:mod:`mlmon_nb.metrics`) for one model. Pure: nothing here queries anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import metrics as m
from . import queries as q
from .humanize import Kind
from .onset import Direction
from .promql import selector

__all__ = ["Condition", "Signal", "error_ratio", "request_rate", "latency", "low_confidence",
           "accuracy", "in_flight", "scrape_up", "baselines_served"]


@dataclass(frozen=True)
class Condition:
    """An alert's condition: PromQL for its value, the threshold and the direction."""

    description: str
    promql: str
    threshold: float
    above: bool = True  # firing when value > threshold (else when below)
    kind: str = Kind.NUMBER.value  # how its value reads
    window: str = ""  # the range its value is computed over ("" for an instant condition)

    def holds(self, value: float) -> bool:
        if value != value:
            return False
        return value > self.threshold if self.above else value < self.threshold


@dataclass(frozen=True)
class Signal:
    """A measure of the alert: PromQL as a function of the ``rate()`` range, its threshold,
    which way is bad, how it reads (:class:`~mlmon_nb.humanize.Kind`), and the PromQL of the
    sample behind it over a range (e.g. requests) with what that sample counts."""

    name: str
    query: Callable[[str], str]
    threshold: float | None = None
    above: bool = True
    kind: str = Kind.NUMBER.value
    sample: Callable[[str], str] | None = None
    sample_unit: str = ""
    missing: float | None = None  # what a missing point means (0 for up: not scraped)
    # the range each point spans when it does not follow the rate() range (a drift statistic's
    # 10m); "" when it does. A change shows in the points over that range: the onset lags it.
    window: str = ""
    # an estimate whose alert judges its band's edge, not a proportion's chance: the PromQL of
    # the band's half-width over a range, and the name its rule records it under
    band: Callable[[str], str] | None = None
    band_record: Callable[[str], str] | None = None

    def promql(self, rate: str) -> str:
        """The PromQL over ``rate``, with missing points as ``missing`` when it is set."""
        text = self.query(rate)
        return text if self.missing is None else f"({text}) or vector({self.missing:g})"

    @property
    def direction(self) -> Direction:
        return Direction.UP if self.above else Direction.DOWN

    def condition(self, description: str, rate: str = "5m") -> Condition:
        """The alert's condition on this signal over ``rate`` (the alert's own window)."""
        if self.threshold is None:
            raise ValueError(f"the signal {self.name!r} has no threshold to fire on")
        return Condition(description, self.promql(rate), self.threshold, self.above, self.kind,
                         rate)


def _version(model_version: str) -> dict[str, str]:
    """The ``model_version`` matcher of a canary judged alone (none for the whole model)."""
    return {"model_version": model_version} if model_version else {}


def _of(name: str, model_version: str) -> str:
    return f"{name} of version {model_version}" if model_version else name


def _requests(model_name: str, model_version: str = "") -> Callable[[str], str]:
    sel = selector(m.REQUESTS.sample, model_name=model_name, **_version(model_version))
    return lambda r: f"sum(increase({sel}[{r}]))"


def error_ratio(model_name: str, threshold: float | None = None, *,
                model_version: str = "") -> Signal:
    """The share of failed requests, with the requests behind it; ``model_version``'s requests
    alone when given (a canary the alert judged on its own traffic)."""
    v = _version(model_version)
    return Signal(_of("error ratio", model_version), lambda r: q.error_ratio(model_name, r, **v),
                  threshold, kind=Kind.RATIO.value, sample=_requests(model_name, model_version),
                  sample_unit="requests")


def request_rate(model_name: str, threshold: float | None = None, *,
                 above: bool = True, model_version: str = "") -> Signal:
    """Requests per second (``above=False`` when too few is bad); ``model_version``'s alone
    when given."""
    v = _version(model_version)
    return Signal(_of("request rate", model_version),
                  lambda r: q.request_rate(model_name, r, **v), threshold, above,
                  kind=Kind.RATE.value, sample=_requests(model_name, model_version),
                  sample_unit="requests")


def latency(model_name: str, quantile: float = 0.95, threshold: float | None = None) -> Signal:
    """A latency quantile in seconds, from the histogram, with the requests behind it."""
    return Signal(f"p{round(quantile * 100):g} latency",
                  lambda r: q.latency_quantile(quantile, model_name, r), threshold,
                  kind=Kind.SECONDS.value, sample=_requests(model_name), sample_unit="requests")


def low_confidence(model_name: str, threshold: float | None = None, *,
                   model_version: str = "") -> Signal:
    """The share of predictions under the low-confidence threshold; ``model_version``'s
    predictions alone when given."""
    v = _version(model_version)
    sel = selector(m.PREDICTIONS.sample, model_name=model_name, **v)
    return Signal(_of("low-confidence share", model_version),
                  lambda r: q.low_confidence_share(model_name, r, **v), threshold,
                  kind=Kind.RATIO.value,
                  sample=lambda r: f"sum(increase({sel}[{r}]))", sample_unit="predictions")


def accuracy(model_name: str, threshold: float | None = None, *,
             model_version: str = "") -> Signal:
    """The share of correct predictions on ground truth (too low is bad), with the labels;
    ``model_version``'s labelled predictions alone when given."""
    v = _version(model_version)
    return Signal(_of("accuracy", model_version), lambda r: q.accuracy(model_name, r, **v),
                  threshold, above=False, kind=Kind.RATIO.value,
                  sample=lambda r: f"sum({q.ground_truth_count(model_name, r, **v)})",
                  sample_unit="labelled predictions")


def in_flight(model_name: str) -> Signal:
    """Requests being served at once."""
    return Signal("in flight", lambda r: q.in_flight(model_name), kind=Kind.NUMBER.value)


def scrape_up(job: str) -> Signal:
    """Whether Prometheus scrapes the service of scrape job ``job`` (1) or not (0)."""
    return Signal("up", lambda r: f"max({selector('up', job=job)})", 1.0, above=False,
                  kind=Kind.NUMBER.value, missing=0.0)


def baselines_served(model_name: str, model_version: str = "") -> Signal:
    """How many baselines the replicas of one version serve (``model_version``'s when given,
    else the most of any version): over 1 is the conflict."""
    query = q.baselines_served(model_name, **_version(model_version))
    return Signal(_of("baselines served", model_version), lambda r: query, 1.0,
                  kind=Kind.COUNT.value)
