"""Build baselines from training data of any size: streamed record batches, DuckDB, Dask.

Each source is read as ``pyarrow`` record batches fed to one
:class:`~mlmon_nb.baseline.BaselineBuilder`, so memory holds one row group plus the sketches (a
few MiB per numeric column) whatever the row count. On Dask every partition is sketched on the
worker that holds it; the sketches are merged pairwise on the workers and one reaches the client.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..errors import BaselineError
from .model import Baseline, BaselineBuilder

__all__ = [
    "BATCH_ROWS",
    "FORMATS",
    "build_from_batches",
    "build_from_dataset",
    "build_from_query",
    "build_on_dask",
    "dataset_batches",
    "duckdb_batches",
    "open_dataset",
    "resolve_files",
]

BATCH_ROWS = 65_536  # rows per record batch: 512 KiB per float column
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_BUILD_OPTIONS = ("categorical", "prediction", "confidence", "bins", "exclude", "top_k", "label",
                  "scores", "variance")


def resolve_files(data: str | Path | Sequence[str | Path]) -> tuple[list[str], str]:
    """Files named by a path, a glob or a list, and their one format (``parquet`` or ``csv``)."""
    names = [data] if isinstance(data, (str, Path)) else list(data)
    files: list[str] = []
    for name in names:
        text = str(name)
        if any(ch in text for ch in "*?["):
            matched = sorted(glob.glob(text, recursive=True))
            if not matched:
                raise BaselineError("no file matches this pattern", text)
            files += matched
        elif Path(text).is_dir():
            files += sorted(str(p) for p in Path(text).rglob("*") if p.suffix.lower() in FORMATS)
        else:
            files.append(text)
    if not files:
        raise BaselineError("no training data files given", str(data))
    kinds = {Path(f).suffix.lower() for f in files}
    unknown = sorted(k for k in kinds if k not in FORMATS)
    if unknown:
        raise BaselineError(f"cannot read {unknown[0] or 'a file without extension'}; give a "
                            f".parquet or .csv file (or a glob of them)",
                            files[0] if len(files) == 1 else str(data))
    formats = {FORMATS[k] for k in kinds}
    if len(formats) > 1:
        raise BaselineError("mixes parquet and csv files; give one format", str(data))
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise BaselineError("no such training data file", missing[0])
    return files, formats.pop()


def open_dataset(data: Any) -> pads.Dataset:
    """A ``pyarrow.dataset.Dataset`` over the files ``data`` names (or ``data`` itself)."""
    if isinstance(data, pads.Dataset):
        return data
    files, fmt = resolve_files(data)
    # an empty cell of a text column is missing, as pandas and Dask read it, not the category ""
    form: str | pads.FileFormat = fmt if fmt != "csv" else pads.CsvFileFormat(
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    try:
        dataset = pads.dataset(files, format=form)
        if fmt == "csv":  # integers inferred from the first block may meet a decimal later
            schema = pa.schema([f.with_type(pa.float64()) if pa.types.is_integer(f.type) else f
                                for f in dataset.schema])
            dataset = pads.dataset(files, format=form, schema=schema)
        return dataset
    except (pa.ArrowInvalid, OSError) as exc:
        reason = " ".join(str(exc).split())
        raise BaselineError(f"cannot be read as {fmt} ({type(exc).__name__}: {reason})",
                            files[0] if len(files) == 1 else str(data)) from exc


def dataset_batches(dataset: pads.Dataset, columns: list[str] | None = None,
                    batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The dataset's record batches, in file order, without materializing it.

    Parquet files are read one after the other with ``ParquetFile.iter_batches`` (one row group
    decoded at a time): the dataset scanner's read-ahead held about 4× more memory.
    """
    if isinstance(dataset, pads.FileSystemDataset) and \
            dataset.format.default_extname == "parquet":
        for path in dataset.files:
            with dataset.filesystem.open_input_file(path) as handle:
                yield from pq.ParquetFile(handle).iter_batches(batch_rows, columns=columns)
        return
    scanner = dataset.scanner(columns=columns, batch_size=batch_rows, use_threads=True,
                              batch_readahead=1, fragment_readahead=1)
    yield from scanner.to_batches()


def duckdb_batches(sql: str, batch_rows: int = BATCH_ROWS, database: str = ":memory:"
                   ) -> Iterator[pa.RecordBatch]:
    """The result of a DuckDB query as record batches, streamed (never the whole result)."""
    import duckdb  # optional: only for --sql
    con = duckdb.connect(database)
    try:
        relation = con.sql(sql)
        if relation is None:
            raise BaselineError(f"the DuckDB statement returns no rows: {sql}")
        to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        reader = to_reader(batch_rows)
    except duckdb.Error as exc:
        con.close()
        raise BaselineError(f"the DuckDB query failed: {' '.join(str(exc).split())}") from exc
    try:
        yield from reader
    finally:
        con.close()


def _progress(total: int | None, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm  # the bar only when asked for
    return tqdm(total=total, unit="rows", unit_scale=True, desc=desc, disable=not enabled,
                leave=False)


def _builder(model_name: str, options: dict) -> BaselineBuilder:
    unknown = sorted(set(options) - set(_BUILD_OPTIONS))
    if unknown:
        raise TypeError(f"unknown baseline option(s) {unknown}; choose from {list(_BUILD_OPTIONS)}")
    return BaselineBuilder(model_name, **options)


def build_from_batches(batches: Iterable[pa.RecordBatch], model_name: str, *,
                       source: str = "", total_rows: int | None = None, progress: bool = False,
                       **options: Any) -> Baseline:
    """A baseline from any iterable of record batches (``options``: see BaselineBuilder)."""
    builder = _builder(model_name, options)
    with _progress(total_rows, progress, f"baseline {model_name}") as bar:
        for batch in batches:
            builder.update_arrow(batch)
            bar.update(batch.num_rows)
    return builder.build(source)


def build_from_dataset(data: Any, model_name: str, *, source: str | None = None,
                       progress: bool = False, batch_rows: int = BATCH_ROWS,
                       **options: Any) -> Baseline:
    """Stream parquet/CSV files (a path, glob, directory or list), a ``pyarrow`` dataset, or an
    iterable of record batches into a baseline. ``progress`` shows a tqdm bar."""
    if not isinstance(data, (str, Path, pads.Dataset, list, tuple)):
        return build_from_batches(data, model_name, source=source or "", progress=progress,
                                  **options)
    dataset = open_dataset(data)
    where = source if source is not None else _describe(data)
    total = None
    if progress and isinstance(dataset, pads.FileSystemDataset) and \
            dataset.format.default_extname == "parquet":
        total = dataset.count_rows()  # parquet footers only
    try:
        return build_from_batches(dataset_batches(dataset, batch_rows=batch_rows), model_name,
                                  source=where, total_rows=total, progress=progress, **options)
    except pa.ArrowInvalid as exc:  # a CSV cell that does not parse, a bad parquet page
        raise BaselineError(f"cannot be read ({' '.join(str(exc).split())})", where) from exc


def build_from_query(sql: str, model_name: str, *, progress: bool = False,
                     batch_rows: int = BATCH_ROWS, database: str = ":memory:",
                     **options: Any) -> Baseline:
    """A baseline from a DuckDB query (e.g. ``SELECT * FROM 'data/*.parquet' WHERE ...``)."""
    return build_from_batches(duckdb_batches(sql, batch_rows, database), model_name,
                              source=f"duckdb: {sql}", progress=progress, **options)


def _describe(data: Any) -> str:
    if isinstance(data, pads.Dataset):
        files = getattr(data, "files", [])
        return files[0] if len(files) == 1 else f"{len(files)} files"
    if isinstance(data, (str, Path)):
        text = str(data)
        remote_or_glob = "://" in text or any(ch in text for ch in "*?[")
        return text if remote_or_glob else str(Path(text).resolve())
    return ", ".join(str(d) for d in data)


def _sketch_partition(frame: Any, model_name: str, options: dict) -> BaselineBuilder:
    """One partition's sketches (runs on the worker that holds the partition)."""
    return _builder(model_name, options).update_frame(frame) if len(frame) else \
        _builder(model_name, options)


def _merge_pair(left: BaselineBuilder, right: BaselineBuilder) -> BaselineBuilder:
    return left.merge(right)


def build_on_dask(client: Any, data: Any, model_name: str, *, source: str | None = None,
                  **options: Any) -> Baseline:
    """The same build on a ``dask.distributed`` cluster.

    ``data``: a ``dask.dataframe.DataFrame``, files as for :func:`build_from_dataset`, or a
    remote URL/glob (``s3://…/*.parquet``), read with ``dask.dataframe.read_parquet`` (one
    partition per row group) or ``read_csv`` on the workers. Each partition is sketched where it
    lies; the sketches (pickled through their compact binary form) are merged pairwise on the
    workers in a fixed tree over the partition order, so only one builder reaches the client.
    The result equals the single-machine build where the sketches are exact and is within
    their error otherwise.
    """
    import dask  # optional: only for distributed builds
    import dask.dataframe as dd
    if isinstance(data, dd.DataFrame):
        frame, where = data, source or "dask dataframe"
    else:
        files: str | list[str]
        if isinstance(data, str) and "://" in data:  # remote storage: the workers read it
            files, fmt = data, FORMATS.get(Path(data).suffix.lower(), "parquet")
        else:
            files, fmt = resolve_files(data)
        frame = (dd.read_parquet(files, split_row_groups=True) if fmt == "parquet"
                 else dd.read_csv(files))
        where = source if source is not None else _describe(data)
    _builder(model_name, options)  # bad options fail here, not on the workers
    level = [dask.delayed(_sketch_partition)(part, model_name, options)
             for part in frame.to_delayed()]
    while len(level) > 1:  # a fixed pairing: deterministic whatever the scheduling
        pairs = [dask.delayed(_merge_pair)(a, b) for a, b in zip(level[::2], level[1::2])]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    merged = client.compute(level[0]).result()
    return merged.build(where)
