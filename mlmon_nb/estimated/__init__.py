"""Estimated accuracy: the model's accuracy before its labels arrive (CBPE on a calibrated
reliability curve).

One package for the signal: the calibration fitted at baseline build (:mod:`.calibration`, with
the standard-library fit the model service shares, :mod:`.reliability`), the Python rerun of the
live estimate (:mod:`.accuracy`), its recording rules (:mod:`.rules`) and the runbook's
investigation (:mod:`.investigate`).

Names are loaded on first use: the model service imports :mod:`.reliability` through this
package and must not pay for numpy or pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import forward

if TYPE_CHECKING:
    from .accuracy import (
        accuracy_comparison,
        estimated_accuracy,
        estimated_accuracy_series,
        realized_accuracy_series,
    )
    from .calibration import Calibration, fit_calibration

__all__ = ["Calibration", "accuracy_comparison", "estimated_accuracy", "estimated_accuracy_series",
           "fit_calibration", "realized_accuracy_series"]

__getattr__ = forward(__name__, ".accuracy", ".calibration")
