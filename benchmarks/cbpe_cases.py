"""The CBPE benchmark's table of cases: mlmon_nb's estimate and its 95 % band against the truth
and NannyML's CBPE, over models, validation-set sizes and shifts (benchmarks/bench_cbpe.py
prints it; ``python benchmarks/cbpe_cases.py`` prints it alone, ``--seeds 100 8`` on eight other
draws per case, not recorded).

Known truth by construction (benchmarks/cbpe_synthetic.py): the Bayes posterior of a Gaussian
mixture, scored calibrated (logits × 1), overconfident (× 1.3, × 1.5) or underconfident (× 0.7).
Per case and validation size, ``DRAWS`` draws: a fresh labelled validation set fits both
estimators, one window of ``N_WINDOW`` shifted predictions is estimated from its confidence
histogram and purity sum (mlmon_nb: bucket counts, the confidences' sum and the class scores'
purities' sum, what Prometheus holds) and from its rows (NannyML).
Shifts: covariate (inputs pulled toward the classes' meeting point), prior (one class's share
raised; P(label | input) changes, which no CBPE can see), and outside the reference's support
(inputs pushed out to twice their spread, where the validation set has no row).

Columns: mean and max |error| against the realized accuracy, the same for NannyML, mean
|mlmon_nb − NannyML|, the mean band half-width and its coverage (the share of draws whose truth
falls inside the band).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
from cbpe_synthetic import Classifier, Sample, make_classifier, sample
from figures import record

from mlmon_nb.estimated.calibration import bucket_counts, fit_calibration, purity

__all__ = ["Case", "CASES", "SIZES", "DRAWS", "N_WINDOW", "Draw", "Row", "run_case", "table",
           "overall", "summary", "run_table", "main"]

SIZES: tuple[int, ...] = (500, 5_000, 50_000)
DRAWS = 4
N_WINDOW = 30_000
GOAL_TRUTH, GOAL_NANNYML, GOAL_COVERAGE = 0.02, 0.01, 0.90


@dataclass(frozen=True)
class Case:
    name: str
    classes: int
    features: int
    radius: float
    sharpness: float
    shift: str  # covariate | prior | outside
    amount: float


CASES: tuple[Case, ...] = (
    Case("binary, calibrated, covariate", 2, 3, 1.3, 1.0, "covariate", 0.5),
    Case("binary, overconfident x1.5, covariate", 2, 3, 1.3, 1.5, "covariate", 0.5),
    Case("3-class, overconfident x1.3, covariate", 3, 4, 2.3, 1.3, "covariate", 0.4),
    Case("3-class, underconfident x0.7, covariate", 3, 4, 2.3, 0.7, "covariate", 0.4),
    Case("3-class, calibrated, prior shift", 3, 4, 2.3, 1.0, "prior", 0.6),
    Case("binary, overconfident x1.5, outside support", 2, 3, 1.3, 1.5, "outside", 1.0),
)


def prior_sample(clf: Classifier, n: int, share: float, rng: np.random.Generator) -> Sample:
    """``n`` rows with class 0 at ``share`` of them (the rest equal): each row from its class's
    cluster, labelled with that class; the true probability of being right under the new prior."""
    k = clf.classes
    weights = np.array([share] + [(1 - share) / (k - 1)] * (k - 1))
    label = rng.choice(k, size=n, p=weights)
    x = clf.centers[label] + rng.normal(size=(n, clf.centers.shape[1]))
    scores = clf.proba(x, clf.sharpness)
    posterior = clf.proba(x) * weights * k
    posterior /= posterior.sum(axis=1, keepdims=True)
    return Sample(x, scores, label, posterior[np.arange(n), scores.argmax(axis=1)])


def window(case: Case, clf: Classifier, rng: np.random.Generator) -> Sample:
    if case.shift == "prior":
        return prior_sample(clf, N_WINDOW, case.amount, rng)
    if case.shift == "outside":  # the spread and the means grown by 1 + amount
        return sample(clf, N_WINDOW, -case.amount, rng, True)
    return sample(clf, N_WINDOW, case.amount, rng, True)


@dataclass
class Draw:
    truth: float
    ours: float
    lower: float
    upper: float
    nannyml: float = float("nan")

    @property
    def covered(self) -> bool:
        return self.lower <= self.truth <= self.upper


def run_case(case: Case, size: int, with_nannyml: bool, draws: int = DRAWS,
             first_seed: int = 0) -> list[Draw]:
    """``draws`` validation sets of ``size`` rows and one shifted window each (seeds
    ``first_seed`` onward: another start gives draws no fit was chosen on)."""
    from bench_cbpe import nannyml_estimates, nannyml_frames  # NannyML's CBPE, as part 1 runs it
    out = []
    for d in range(first_seed, first_seed + draws):
        clf = make_classifier(case.classes, case.features, case.radius, d, case.sharpness)
        rng = np.random.default_rng(1000 * d + size)
        reference = sample(clf, size, 0.0, rng)
        live = window(case, clf, rng)
        cal = fit_calibration(reference.confidence, reference.correct, scores=reference.proba)
        est = cal.estimate(bucket_counts(live.confidence),
                           float(cal.confidences(live.confidence, live.proba).sum()),
                           float(purity(live.proba).sum()))
        draw = Draw(live.accuracy, est.accuracy, est.lower, est.upper)
        if with_nannyml:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                draw.nannyml = nannyml_estimates(*nannyml_frames(reference, [live]), N_WINDOW)[0]
        out.append(draw)
    return out


@dataclass(frozen=True)
class Row:
    case: Case
    size: int
    draws: list[Draw]

    def errors(self, of: str) -> np.ndarray:
        return np.array([abs(getattr(d, of) - d.truth) for d in self.draws])

    @property
    def difference(self) -> np.ndarray:
        return np.array([abs(d.ours - d.nannyml) for d in self.draws])

    @property
    def coverage(self) -> float:
        return float(np.mean([d.covered for d in self.draws]))

    @property
    def margin(self) -> float:
        return float(np.mean([(d.upper - d.lower) / 2 for d in self.draws]))


def table(rows: list[Row]) -> str:
    """The table of cases, as markdown (errors in accuracy points)."""
    lines = ["| case | validation rows | mlmon_nb mean / max \\|error\\| | NannyML mean / max "
             "| mean \\|mlmon_nb − NannyML\\| | band ± (mean) | band holds the truth |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ours, nml = r.errors("ours") * 100, r.errors("nannyml") * 100
        held = sum(d.covered for d in r.draws)
        lines.append(f"| {r.case.name} | {r.size:,} | {ours.mean():.2f} / {ours.max():.2f} | "
                     f"{nml.mean():.2f} / {nml.max():.2f} | {r.difference.mean() * 100:.2f} | "
                     f"{r.margin * 100:.2f} | {held}/{len(r.draws)} |")
    return "\n".join(lines)


def overall(rows: list[Row]) -> dict[str, str]:
    """Over all draws, for both estimators on the same draws: the mean |error| and the share
    within 1 point of the truth; the goals' counts and the band's coverage."""
    draws = [d for r in rows for d in r.draws]
    out = {"draws": f"{len(draws)}"}
    for of in ("ours", "nannyml"):
        err = np.array([abs(getattr(d, of) - d.truth) for d in draws]) * 100
        out[f"{of}_mean_error"] = f"{err.mean():.2f}"
        out[f"{of}_within_1"] = f"{np.mean(err <= 1):.0%}"
        out[f"{of}_within_2"] = f"{int(np.sum(err <= 2))}"
    fair = [abs(d.ours - d.nannyml) <= GOAL_NANNYML for d in draws
            if abs(d.nannyml - d.truth) <= GOAL_TRUTH]
    covered = [d.covered for d in draws]
    out.update(fair=f"{sum(fair)}", fair_of=f"{len(fair)}", covered=f"{sum(covered)}",
               coverage=f"{np.mean(covered):.0%}")
    return out


def summary(rows: list[Row]) -> list[str]:
    """The goals: within 2 points of the truth; within 1 point of NannyML wherever NannyML is
    within 2; the band covering the truth in 90 % of the draws."""
    o = overall(rows)
    return [f"mean |error| (points): mlmon_nb {o['ours_mean_error']}, NannyML "
            f"{o['nannyml_mean_error']}; within 1 point of the truth: mlmon_nb "
            f"{o['ours_within_1']}, NannyML {o['nannyml_within_1']} of {o['draws']} draws",
            f"within {GOAL_TRUTH * 100:g} points of the truth: {o['ours_within_2']}/{o['draws']} "
            f"draws (NannyML {o['nannyml_within_2']})",
            f"within {GOAL_NANNYML * 100:g} point of NannyML where NannyML is within "
            f"{GOAL_TRUTH * 100:g}: {o['fair']}/{o['fair_of']} draws",
            f"band covers the truth: {o['covered']}/{o['draws']} draws "
            f"({o['coverage']}; goal {GOAL_COVERAGE:.0%})"]


def run_table(with_nannyml: bool, draws: int = DRAWS, first_seed: int = 0) -> list[Row]:
    """Every case; with NannyML on the standard draws (seeds from 0), its figures recorded for
    the docs (benchmarks/figures.py)."""
    t0 = time.perf_counter()
    rows = [Row(c, s, run_case(c, s, with_nannyml, draws, first_seed)) for c in CASES
            for s in SIZES]
    seconds = time.perf_counter() - t0
    print(f"\n-- cases: {len(CASES)} × validation sizes {SIZES} × {draws} draws (seeds "
          f"{first_seed}–{first_seed + draws - 1}), one window of {N_WINDOW:,} predictions each "
          f"({seconds:.0f} s)")
    print(table(rows))
    for line in summary(rows):
        print(line)
    if with_nannyml and (draws, first_seed) == (DRAWS, 0):
        record("cbpe_cases", table=f"\n{table(rows)}\n", seconds=f"{seconds:.0f} s",
               **overall(rows))
    return rows


def main(argv: list[str]) -> None:
    """``--seeds FIRST DRAWS``: other draws (not recorded), to check a change on draws it was
    not chosen on, e.g. ``--seeds 100 8``."""
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # NannyML: no usage analytics
    from bench_cbpe import nannyml_missing
    skip = nannyml_missing()
    if skip:
        print(skip)
    first, draws = ((int(argv[argv.index("--seeds") + 1]), int(argv[argv.index("--seeds") + 2]))
                    if "--seeds" in argv else (0, DRAWS))
    run_table(skip is None, draws, first)


if __name__ == "__main__":
    main(sys.argv[1:])
