"""Which baseline a model's runbook compares with, and which ones its live replicas serve: the
configured baseline file, loaded once per run, and what ``ml_model_info`` says each replica
serves (a canary retrained on other data serves its own; replicas of one version serving two are
the ``BaselineConflict`` alert's case)."""

from __future__ import annotations

import pandas as pd

from ..baseline import Baseline
from ..errors import BaselineError
from ..findings import Finding
from ..findings.investigation import InvestigationBase
from ..queries import model_replicas

__all__ = ["BaselineEvidence"]


class BaselineEvidence(InvestigationBase):
    """The baseline methods of :class:`~mlmon_nb.investigate.Investigation`."""

    def load_baseline(self):
        """The model's training baseline, or None when its file is missing (cached); with a
        finding when versions of the model serve another baseline (:meth:`_served_baselines`)."""
        if "baseline" not in self._cache:
            try:
                self._cache["baseline"] = Baseline.load(self.ctx.baseline_path)
            except (BaselineError, OSError) as exc:
                self._cache["baseline"] = None
                self.record(Finding("Training baseline", True,
                                    f"No baseline ({exc}); drift cannot be rerun. Build it with "
                                    f"`mlmon-nb baseline build`."))
            else:
                self._served_baselines(self._cache["baseline"])
        return self._cache["baseline"]

    def _replicas(self) -> pd.DataFrame:
        """Each live replica of the model at the window's end with the version and baseline id
        it serves (a label a service does not export: ""); read once per run."""
        if "replicas" not in self._cache:
            frame = self.prom.query(model_replicas(self.model_name), self.incident.end)
            columns = ["job", "instance", "model_version", "baseline_id"]
            frame = frame.reindex(columns=columns, fill_value="").astype(str)
            self._cache["replicas"] = frame.sort_values(columns).reset_index(drop=True)
        return self._cache["replicas"]

    def _served_baselines(self, baseline: Baseline) -> None:
        """Say so when a live version of the model serves another baseline than the configured
        file (a canary retrained on other data): the reruns here compare with the file, while
        the rules judge each version against the baseline it serves."""
        served = self._replicas()
        pairs = sorted(set(zip(served["model_version"], served["baseline_id"])))
        others = [(v, b) for v, b in pairs if b != baseline.baseline_id]
        if not others:
            return
        named = "; ".join(f"version {v or '(none)'} serves {b}" for v, b in others)
        self.record(Finding(
            "Training baseline", True,
            f"{named}, not the configured {self.ctx.baseline_path} ({baseline.baseline_id}). "
            f"The reruns below compare the model's traffic with that file; the rules judge each "
            f"version against the baseline it serves, and judge no drift of the model as a whole "
            f"while its versions run more than one. Rerun with -p baseline_path FILE (the "
            f"version's baseline) to compare with its own."))

    def replicas_baselines(self, model_version: str = "") -> pd.DataFrame:
        """Which baseline each live replica of the model (``model_version``'s when given)
        serves at the window's end, against the configured file's; the versions whose replicas
        serve more than one are named (in words, ``numbers["baselines_served"]``: the verdict's
        cause). Records the finding "Baselines served"."""
        frame = self._replicas()
        if model_version:
            frame = frame[frame["model_version"] == model_version].reset_index(drop=True)
        promql = model_replicas(self.model_name,
                                **({"model_version": model_version} if model_version else {}))
        baseline = self.load_baseline()
        configured = baseline.baseline_id if baseline is not None else None
        frame = frame.assign(**{"configured file's": ["yes" if b == configured else "no"
                                                      for b in frame["baseline_id"]]})
        served = {str(v): sorted(map(str, ids))
                  for v, ids in frame.groupby("model_version")["baseline_id"].unique().items()}
        conflicts = {v: ids for v, ids in served.items() if len(ids) > 1}
        self.numbers["versions_in_conflict"] = ", ".join(v or "(none)" for v in conflicts)

        def where(version: str, baseline_id: str) -> str:
            mine = frame[(frame["model_version"] == version) & (frame["baseline_id"] == baseline_id)]
            return (f"{baseline_id}{' (the configured file)' if baseline_id == configured else ''}"
                    f" on {', '.join(mine['instance'])}")

        if frame.empty:
            message = f"No live replica of {self.model_name} exports ml_model_info now."
        elif conflicts:
            said = "; ".join(f"version {v or '(none)'} serves {len(ids)} baselines: "
                             + ", ".join(where(v, b) for b in ids) for v, ids in conflicts.items())
            self.numbers["baselines_served"] = said
            message = (f"{said[0].upper()}{said[1:]}. The model's drift, estimated accuracy "
                       f"and multivariate check are withheld until its replicas serve one.")
        else:
            message = ("Each version's replicas serve one baseline: "
                       + "; ".join(f"version {v or '(none)'} {ids[0]}" for v, ids in served.items())
                       + ".")
        self.record(Finding("Baselines served", bool(conflicts), message, [], None, promql,
                            self.link(promql, self.incident.start, self.incident.end),
                            [{str(k): str(x) for k, x in r.items()}
                             for r in frame.to_dict("records")]))
        return frame
