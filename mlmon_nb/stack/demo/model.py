"""The demo model: a small deterministic sentiment classifier and the text it is fed.

No downloads: a fixed lexicon scores the words, a softmax over three classes gives the
prediction and its confidence. ``generate_texts`` makes realistic requests (with their true
labels) and can shift their distribution, which is how the traffic generator injects drift
and low confidence, and how the training data of the baseline is made.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ...baseline import Baseline

__all__ = [
    "MODEL_NAME",
    "MODEL_VERSION",
    "CLASSES",
    "CHANNELS",
    "NUMERIC_FEATURES",
    "CATEGORICAL_FEATURES",
    "Prediction",
    "SentimentModel",
    "LabeledText",
    "generate_texts",
    "training_frame",
    "validation_frame",
    "training_baseline",
    "COVARIATE_SHIFT",
    "fleet_baseline",
    "fleet_names",
    "is_fleet_name",
]

MODEL_NAME = "sentiment_classifier"
MODEL_VERSION = "1.0.0"
DEMO_JOB = "mlmon-demo"  # its scrape job, as the demo's stack/mlmon.yaml configures it
CLASSES = ("negative", "neutral", "positive")
CHANNELS = ("web", "mobile", "api", "email")
CHANNEL_WEIGHTS = (0.45, 0.35, 0.15, 0.05)
# text_length and word_count move together: the joint structure the multivariate check learns
NUMERIC_FEATURES = ("text_length", "sentiment_score", "word_count")
CATEGORICAL_FEATURES = ("channel",)

_POSITIVE = ("good", "great", "excellent", "love", "happy", "fast", "helpful", "amazing",
             "perfect", "recommend", "pleased", "smooth")
_NEGATIVE = ("bad", "terrible", "awful", "hate", "slow", "broken", "poor", "refund",
             "disappointed", "useless", "angry", "worst")
_NEUTRAL = ("the", "order", "delivery", "product", "service", "app", "today", "item", "price",
            "support", "account", "update", "package", "it", "was", "and", "my")
_HEDGES = ("maybe", "somewhat", "perhaps", "okay", "guess")
MIXED_SHARE = 0.1  # share of texts with mixed feelings in normal traffic
FAINT_EXTRA_WORDS = 12  # neutral words a faint text adds
# generate_texts options of the covariate shift: faint and mixed feelings everywhere and hedged
# texts more often, texts the model is less sure of and less often right on
COVARIATE_SHIFT: dict[str, float] = {"faint": 1.0, "mixed": 0.3, "ambiguity": 0.2}
_FLEET_NAME = re.compile(rf"^{MODEL_NAME}(_[1-9][0-9]*)?$")
_LEXICON = {**{w: 1.0 for w in _POSITIVE}, **{w: -1.0 for w in _NEGATIVE}}


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one text."""

    label: str
    confidence: float
    probabilities: tuple[float, float, float]
    features: dict


@dataclass(frozen=True)
class LabeledText:
    """A request the traffic generator sends, with the label a reviewer would give it."""

    text: str
    channel: str
    true_label: str


class SentimentModel:
    """Lexicon-based three-class sentiment classifier; pure and deterministic."""

    name = MODEL_NAME
    version = MODEL_VERSION

    @staticmethod
    def features(text: str, channel: str = "web") -> dict:
        """The model's input features: text length, lexicon sentiment score, word count,
        channel."""
        words = text.lower().split()
        clean = [w.strip(".,!?") for w in words]
        score = sum(_LEXICON.get(w, 0.0) for w in clean)
        return {
            "text_length": float(len(text)),
            "sentiment_score": score / math.sqrt(max(len(words), 1)),
            "word_count": float(len(words)),
            "channel": channel,
        }

    def predict(self, text: str, channel: str = "web") -> Prediction:
        """Classify one text."""
        feats = self.features(text, channel)
        s = feats["sentiment_score"]
        # hedging words ("maybe", "somewhat") make the model less sure: a higher temperature
        hedges = sum(w.strip(".,!?") in _HEDGES for w in text.lower().split())
        logits = np.array([-6.0 * s, 2.0 - 5.0 * abs(s), 6.0 * s]) / (1.0 + 1.5 * hedges)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        i = int(np.argmax(probs))
        p0, p1, p2 = (float(p) for p in probs)
        return Prediction(CLASSES[i], float(probs[i]), (p0, p1, p2), feats)


def generate_texts(n: int, rng: np.random.Generator, *, drift: float = 0.0,
                   ambiguity: float = 0.0, mixed: float = MIXED_SHARE,
                   faint: float = 0.0) -> list[LabeledText]:
    """``n`` labelled requests.

    ``drift`` (0..1) makes texts longer and more negative, as when a new user population
    arrives; ``ambiguity`` (0..1) adds hedging words, which lowers confidence without changing
    the prediction; ``mixed`` is the share of texts with mixed feelings (opposite sentiment
    mixed in, and label noise); ``faint`` the share of positive or negative texts whose one
    sentiment word is lost in a long text: the model hesitates on them and is less often right.
    Together (:data:`COVARIATE_SHIFT`) they are a covariate shift.
    """
    labels = rng.choice(CLASSES, size=n, p=(0.3 + 0.25 * drift, 0.3, 0.4 - 0.25 * drift))
    channels = rng.choice(CHANNELS, size=n, p=CHANNEL_WEIGHTS)
    lengths = rng.poisson(9 + 14 * drift, size=n) + 3
    out = []
    for label, channel, length in zip(labels, channels, lengths):
        n_sent = max(1, int(rng.binomial(length, 0.22)))
        if faint and label != "neutral" and rng.random() < faint:
            # one sentiment word lost in a long text: the model hesitates, often on neutral
            n_sent, length = 1, length + int(rng.poisson(FAINT_EXTRA_WORDS))
        if label == "positive":
            sent = list(rng.choice(_POSITIVE, n_sent))
        elif label == "negative":
            sent = list(rng.choice(_NEGATIVE, n_sent))
        else:
            sent = list(rng.choice(_POSITIVE + _NEGATIVE, min(n_sent, 2))) if rng.random() < 0.3 else []
        if rng.random() < mixed:  # mixed feelings, and label noise
            opposite = _NEGATIVE if label == "positive" else _POSITIVE
            sent += list(rng.choice(opposite, max(1, len(sent) // 2)))
        if rng.random() < ambiguity:
            sent += list(rng.choice(_HEDGES, 2))
        words = sent + list(rng.choice(_NEUTRAL, max(0, int(length) - len(sent))))
        rng.shuffle(words)
        out.append(LabeledText(" ".join(words), str(channel), str(label)))
    return out


def training_frame(n: int = 20000, seed: int = 7) -> pd.DataFrame:
    """The demo model's training data with its predictions and true labels: the source of its
    baseline."""
    rng = np.random.default_rng(seed)
    model = SentimentModel()
    rows = []
    for item in generate_texts(n, rng):
        p = model.predict(item.text, item.channel)
        rows.append({**p.features, "label": item.true_label, "prediction": p.label,
                     "confidence": p.confidence})
    return pd.DataFrame(rows)


def validation_frame(n: int = 10000, seed: int = 11) -> pd.DataFrame:
    """Labelled data the model was not trained on (another seed): what its confidences are
    calibrated on, so the curve is not the training set's optimism."""
    return training_frame(n, seed)


def training_baseline(rows: int = 20000, seed: int = 7, *, validation_rows: int | None = None,
                      validation_seed: int = 11, **options: Any) -> Baseline:
    """The demo model's training baseline: ``Baseline.from_frame`` of :func:`training_frame`,
    with the reliability curve of :func:`validation_frame` (``validation_rows``, default half
    the training rows; 0: none).

    Deterministic, so its ``baseline_id`` (and the rules generated from it) are the same on
    every machine; ``options`` pass through to ``from_frame`` (e.g. ``top_k``).
    """
    # the baseline machinery stays off the model's import (a service imports the model)
    from ...baseline import Baseline
    from ...estimated.calibration import fit_calibration
    base = Baseline.from_frame(training_frame(rows, seed), MODEL_NAME, categorical=["channel"],
                               prediction="prediction", confidence="confidence",
                               exclude=["label"], source="mlmon_nb.stack.demo.model.training_frame",
                               **options)
    validation_rows = rows // 2 if validation_rows is None else validation_rows
    if not validation_rows:
        return base
    valid = validation_frame(validation_rows, validation_seed)
    return base.with_calibration(fit_calibration(
        valid["confidence"].to_numpy(), (valid["prediction"] == valid["label"]).to_numpy(),
        classes=len(CLASSES)))


def fleet_names(n: int) -> list[str]:
    """The names of a demo fleet of ``n`` models: the demo model, then ``<demo model>_2`` …
    ``_n`` (copies of it, each monitored under its own name)."""
    return [MODEL_NAME] + [f"{MODEL_NAME}_{i}" for i in range(2, n + 1)]


def is_fleet_name(name: str) -> bool:
    """Whether ``name`` is one of the demo fleet's models (what the demo service serves)."""
    return bool(_FLEET_NAME.match(name))


def fleet_baseline(baseline: Baseline, model_name: str) -> Baseline:
    """The demo model's baseline for another model of the fleet: the same training data under
    ``model_name``, with its own ``baseline_id`` (every fleet model serves the same classifier,
    so building each from scratch would only cost time)."""
    # with_calibration recomputes the content id, which covers the model's name
    return replace(baseline, model_name=model_name).with_calibration(baseline.calibration)
