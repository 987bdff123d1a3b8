"""The training baseline: what a model's inputs and confidences looked like when it was trained.

:class:`Baseline` (:mod:`.model`) holds each feature's reference distribution, the confidence
histogram and the reliability curve, and loads and saves the JSON file. :mod:`.build` streams
parquet/CSV files, a DuckDB query or Dask partitions into one (pyarrow and duckdb load only
there); :mod:`.sketch` holds the mergeable summaries both use.
"""

from .model import SCHEMA_VERSION, Baseline, BaselineBuilder, bin_fractions

__all__ = ["SCHEMA_VERSION", "Baseline", "BaselineBuilder", "bin_fractions"]
