"""The multivariate check against NannyML's DataReconstructionDriftCalculator, on the same data.

Synthetic data: 6 numeric features driven by 2 latent factors (pairs correlated at ~0.8), a
reference of 20,000 rows (the baseline; NannyML is fitted on the same frame, with the same
variance share 0.65), and per scenario an analysis stream of 100 predictions a minute whose
second half drifts:

- ``no drift``: the reference distribution throughout;
- ``correlation break``: ``f1`` (correlated with ``f0``) comes from another row; every marginal
  is the reference's;
- ``new segment``: 30% of rows from a segment where ``f0`` and ``f1`` move against each other,
  inside their usual ranges;
- ``pure marginal shift``: both factors shift by 0.5 sd: every marginal moves, the correlations
  do not (the univariate KS sees it; a reconstruction error need not).

``--width 60`` adds 54 independent features (noise), so the break is between two of sixty and
the PCA keeps tens of components: where a reference scored by the components fitted on it
would sit under every new window's errors.

Per chunk of 500 predictions (5 minutes) each method judges alone: ours, the alert's condition
on the chunk (n >= 30, binned KS of the error against the baseline's buckets past its critical
value at alpha 0.01, and either past ``ks.warning`` 0.15 or the mean error past the mean chance
gives at alpha 0.01); NannyML, its alert (the chunk's mean error outside
3 standard deviations of the reference chunks'). Detection: the share of drifted chunks flagged;
false alarms: the share of undrifted chunks flagged (the first halves and the no-drift stream).
Time to an alert, from the drift's onset: ours, the live rule (1h window, evaluated every 5 min
as the drift group is) holding for ``for: 1h``; NannyML, the end of its first flagged chunk (a
batch job run at every chunk's end, its best case). For context, the univariate check's
(``DataDriftDetected``: any feature's binned KS past 0.15 and past chance) per-chunk rate too.

    .venv/bin/python benchmarks/bench_multivariate.py [--seeds 5] [--width 6]
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import pandas as pd

from mlmon_nb import Baseline
from mlmon_nb.drift import reconstruction_drift

STRUCTURED = 6  # features on the two factors; any beyond are independent noise
PER_MINUTE = 100
CHUNK = 500  # 5 minutes of traffic
MINUTES = 240  # the stream: 2 hours as usual, then 2 hours of drift
ONSET = 120
KS_WARNING, ALPHA, MIN_VALUES = 0.15, 0.01, 30  # the demo configuration's
WINDOW, FOR, EVERY = 60, 60, 5  # the live rule: 1h window, for 1h, evaluated every 5 min
SCENARIOS = ("no drift", "correlation break", "new segment", "pure marginal shift")


def features(width: int) -> list[str]:
    return [f"f{i}" for i in range(width)]


def sample(n: int, rng: np.random.Generator, shift: float = 0.0,
           width: int = STRUCTURED) -> np.ndarray:
    """Rows of ``width`` features: f0..f2 load on one factor, f3..f5 on another, plus noise;
    any further ones independent standard normal."""
    factors = rng.normal(size=(n, 2)) + shift
    loadings = np.array([[1.0, 0.9, 0.8, 0, 0, 0], [0, 0, 0, 1.0, 0.9, 0.8]])
    rows = factors @ loadings + rng.normal(scale=0.5, size=(n, 6)) + np.arange(6)
    return np.hstack([rows, rng.normal(size=(n, width - STRUCTURED))])


def drifted(scenario: str, n: int, rng: np.random.Generator, width: int) -> np.ndarray:
    rows = sample(n, rng, width=width)
    if scenario == "correlation break":
        rows[:, 1] = rng.permutation(rows[:, 1])
    elif scenario == "new segment":
        seg = rng.random(n) < 0.3
        rows[seg, 1] = 1 + (2 * 0.9 - rows[seg, 0] * 0.9)  # f1 mirrors f0 around their means
    elif scenario == "pure marginal shift":
        rows = sample(n, rng, shift=0.5, width=width)
    return rows


def stream(scenario: str, rng: np.random.Generator, width: int) -> np.ndarray:
    """MINUTES × PER_MINUTE rows; from ONSET on as the scenario says."""
    before = sample(ONSET * PER_MINUTE, rng, width=width)
    n = (MINUTES - ONSET) * PER_MINUTE
    after = (sample(n, rng, width=width) if scenario == "no drift" else
             drifted(scenario, n, rng, width))
    return np.vstack([before, after])


def ours_flags(baseline: Baseline, rows: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Per chunk: the alert's condition; and the live rule's time to an alert (minutes)."""
    joint = baseline.multivariate
    assert joint is not None
    errors = joint.errors(rows)

    def judge(values: np.ndarray) -> bool:
        """The alert's condition on these errors (as the rules compute it from the buckets)."""
        c = np.cumsum(np.bincount(np.searchsorted(joint.edges, values, side="left"),
                                  minlength=joint.edges.size + 1))
        return reconstruction_drift(c[:-1], c[-1], joint.cumulative, joint.n,
                                    total=float(values.sum()), alpha=ALPHA,
                                    reference_mean=joint.reference_mean,
                                    reference_std=joint.reference_std).drifted(KS_WARNING,
                                                                                MIN_VALUES)
    flags = np.array([judge(errors[i:i + CHUNK]) for i in range(0, len(rows), CHUNK)])
    since = None
    for t in range(WINDOW, MINUTES + 1, EVERY):
        holds = judge(errors[(t - WINDOW) * PER_MINUTE:t * PER_MINUTE])
        since = (since if since is not None else t) if holds else None
        if since is not None and t - since >= FOR and t > ONSET:
            return flags, float(t - ONSET)
    return flags, None


def univariate_flags(baseline: Baseline, rows: np.ndarray) -> np.ndarray:
    """Per chunk: any feature's binned KS past ``ks.warning`` and past chance (DataDriftDetected)."""
    flags = []
    for i in range(0, len(rows), CHUNK):
        hit = False
        for j, name in enumerate(baseline.numeric):
            spec = baseline.numeric[name]
            c = np.cumsum(np.bincount(np.searchsorted(spec.edges, rows[i:i + CHUNK, j],
                                                      side="left"), minlength=spec.edges.size + 1))
            ks = reconstruction_drift(c[:-1], c[-1], spec.cumulative, spec.n, alpha=ALPHA)
            hit = hit or (ks.ks > KS_WARNING and ks.significant and ks.n >= MIN_VALUES)
        flags.append(hit)
    return np.array(flags)


def nannyml_flags(reference: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no calls home from a benchmark
    import nannyml as nml
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = list(reference.columns)
        calc = nml.DataReconstructionDriftCalculator(column_names=names, chunk_size=CHUNK,
                                                     n_components=0.65).fit(reference)
        result = calc.calculate(pd.DataFrame(rows, columns=names))
    frame = result.filter(period="analysis").to_df()
    return frame[("reconstruction_error", "alert")].to_numpy(dtype=bool)


def run(seeds: int, width: int = STRUCTURED) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(sample(20_000, rng, width=width), columns=features(width))
    baseline = Baseline.from_frame(reference, "bench")
    chunks_before = ONSET * PER_MINUTE // CHUNK
    rows_out = []
    for scenario in SCENARIOS:
        methods = ("mlmon_nb", "NannyML", "univariate KS (context)")
        tallies = {m: {"hit": 0, "drifted": 0, "false": 0, "quiet": 0, "times": []}
                   for m in methods}
        for seed in range(seeds):
            data = stream(scenario, np.random.default_rng([seed, SCENARIOS.index(scenario)]),
                          width)
            ours, minutes = ours_flags(baseline, data)
            theirs = nannyml_flags(reference, data)
            first = np.flatnonzero(theirs[chunks_before:])
            their_minutes = (float((first[0] + 1) * CHUNK / PER_MINUTE)
                             if scenario != "no drift" and first.size else None)
            for name, flags, t in (("mlmon_nb", ours, minutes), ("NannyML", theirs, their_minutes),
                                   (methods[2], univariate_flags(baseline, data), None)):
                tally = tallies[name]
                quiet = flags if scenario == "no drift" else flags[:chunks_before]
                tally["false"] += int(quiet.sum())
                tally["quiet"] += quiet.size
                if scenario != "no drift":
                    tally["hit"] += int(flags[chunks_before:].sum())
                    tally["drifted"] += flags[chunks_before:].size
                    tally["times"].append(t)
        for name, tally in tallies.items():
            times = [t for t in tally["times"] if t is not None]
            rows_out.append({
                "scenario": scenario, "method": name,
                "detection": tally["hit"] / tally["drifted"] if tally["drifted"] else np.nan,
                "drifted chunks": tally["drifted"],
                "false alarms": tally["false"] / tally["quiet"], "quiet chunks": tally["quiet"],
                "time to alert (min)": (float(np.median(times)) if times else np.nan),
                "alerted runs": (f"{len(times)}/{seeds}" if scenario != "no drift"
                                 and name != methods[2] else ""),
            })
    return pd.DataFrame(rows_out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--width", type=int, default=STRUCTURED,
                    help=f"numeric features (at least {STRUCTURED}; beyond, independent noise)")
    args = ap.parse_args()
    if args.width < STRUCTURED:
        ap.error(f"--width is at least {STRUCTURED}, the features on the two factors")
    table = run(args.seeds, args.width)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
