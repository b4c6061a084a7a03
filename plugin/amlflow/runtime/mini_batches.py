"""A ParallelRunStep's mini-batches: how its input is split, where each one's result is kept, what failed.

A mini-batch is a JSON object the plan task returns and each mapped task receives (``expand``):

* files: ``{"index", "files": [[kind, store, location, relative], ...]}`` (a FileDataset, or an earlier
  step's output), with ``"partition": {key: value}`` when ``partition_keys`` made it;
* rows: ``{"index", "input", "rows": [start, stop]}`` of a TabularDataset, or ``{"index", "input",
  "partition"}`` for the rows of one partition.

Only paths and numbers travel through XCom, never data. Each mini-batch leaves ``result.json`` under
``amlflow/<dag>/<run>/amlflow-artifacts/parallel/<step>/<index>/`` of the default datastore, written last
(after the files its script wrote to ``output_dir``, which are kept under the try that wrote them): a
mini-batch has a result once, whole, however often its task was retried.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from amlflow import config
from amlflow.data.dataset_sources import SourceFile
from amlflow.exceptions import StepFailedError
from amlflow.storage import get_backend
from amlflow.storage.location import run_artifact_path

#: How many failed mini-batches a failure message lists (the rest are counted).
LISTED_FAILURES = 20


# -- planning ---------------------------------------------------------------------------------------------
def file_batches(files: list[SourceFile], size: int) -> list[dict[str, Any]]:
    """Mini-batches of ``size`` files, in the listing's order."""
    size = max(1, int(size))
    return [
        {"index": index, "files": [_file_entry(file) for file in files[start : start + size]]}
        for index, start in enumerate(range(0, len(files), size))
    ]


def file_partitions(files: list[SourceFile], partition_format: str | None, keys: list[str]) -> list[dict[str, Any]]:
    """One mini-batch per distinct value of ``keys`` among the files' paths (``partition_format``)."""
    from amlflow.data.dataset_partitions import parse_partition_format

    if not partition_format:
        raise StepFailedError(
            f"partition_keys {keys}: the input has no partition_format, so it has no partition keys; give the "
            "dataset a partition_format (Dataset.File.from_files(..., partition_format=...)), or use mini_batch_size"
        )
    parsed = parse_partition_format(partition_format)
    unknown = [key for key in keys if key not in parsed.keys]
    if unknown:
        raise StepFailedError(f"partition_keys {unknown} are not keys of the input's partition_format {parsed.keys}")
    groups: dict[tuple[str, ...], list[SourceFile]] = {}
    for file in files:
        values = parsed.values(file.origin)
        if values is not None:
            groups.setdefault(tuple(_text(values[key]) for key in keys), []).append(file)
    return [
        {"index": index, "partition": dict(zip(keys, group, strict=True)), "files": [_file_entry(f) for f in found]}
        for index, (group, found) in enumerate(groups.items())
    ]


def row_batches(input_index: int, rows: int, source_bytes: int, size: int) -> list[dict[str, Any]]:
    """Mini-batches of about ``size`` bytes of a table of ``rows`` rows read from ``source_bytes`` bytes."""
    per_row = source_bytes / rows if rows else 1
    step = max(1, int(max(1, int(size)) // max(per_row, 1)))
    return [
        {"index": 0, "input": input_index, "rows": [start, min(start + step, rows)]} for start in range(0, rows, step)
    ]


def row_partitions(input_index: int, frame: Any, keys: list[str]) -> list[dict[str, Any]]:
    """One mini-batch per distinct value of ``keys`` among the table's rows, in the order they first appear."""
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise StepFailedError(
            f"partition_keys {missing} are not columns of the input (its columns: {list(frame.columns)}); "
            "partition the dataset by them first (TabularDataset.partition_by)"
        )
    seen: dict[tuple[str, ...], None] = {}
    for values in frame[keys].itertuples(index=False, name=None):
        seen.setdefault(tuple(_text(value) for value in values), None)
    return [{"index": 0, "input": input_index, "partition": dict(zip(keys, group, strict=True))} for group in seen]


def numbered(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mini-batches of every input, numbered 0, 1, 2... in order."""
    return [{**batch, "index": index} for index, batch in enumerate(batches)]


def source_file(entry: list[str]) -> SourceFile:
    """The file of a mini-batch's ``files`` entry."""
    kind, store, location, relative = entry
    return SourceFile(kind, store or None, location, relative, location)


def label(batch: dict[str, Any]) -> str:
    """A mini-batch as a person reads it in the UI and in failure messages."""
    if "partition" in batch:
        return ", ".join(f"{key}={value}" for key, value in batch["partition"].items())
    if "rows" in batch:
        start, stop = batch["rows"]
        return f"rows {start}-{stop - 1}"
    names = [entry[3] for entry in batch["files"]]
    return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names)} files)"


def item_count(batch: dict[str, Any]) -> int | None:
    """How many items (files, rows) the mini-batch holds, when the plan knows it."""
    if "files" in batch:
        return len(batch["files"])
    if "rows" in batch:
        return batch["rows"][1] - batch["rows"][0]
    return None


def _file_entry(file: SourceFile) -> list[str]:
    return [file.kind, file.store or "", file.location, file.relative]


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# -- results ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class MiniBatchResult:
    """What one mini-batch's ``run()`` calls gave: rows (append_row), how many items succeeded, and failures."""

    index: int
    label: str
    items: int
    succeeded: int
    rows: list[str]
    error: str | None = None
    tries: int = 1
    files_prefix: str | None = None

    @property
    def failed(self) -> bool:
        """Whether every try of ``run()`` on this mini-batch failed (or timed out)."""
        return self.error is not None

    @property
    def failed_items(self) -> int:
        """How many of its items ``run()`` did not return a row or element for."""
        return max(0, self.items - self.succeeded)


def result_folder(dag_id: str, run_id: str, step: str, index: int) -> str:
    """Where mini-batch ``index`` of a run's step keeps its result and files, in the run's artifacts."""
    return run_artifact_path(dag_id, run_id, f"parallel/{step}/{index:06d}")


def write_result(dag_id: str, run_id: str, step: str, result: MiniBatchResult) -> None:
    """Keep a mini-batch's result (one write: it is there whole, or not at all)."""
    path = f"{result_folder(dag_id, run_id, step, result.index)}/result.json"
    _backend().write_bytes(path, json.dumps(dataclasses.asdict(result)).encode())


def read_result(dag_id: str, run_id: str, step: str, index: int) -> MiniBatchResult | None:
    """The result mini-batch ``index`` wrote, or None if it wrote none (its task never finished a try)."""
    path = f"{result_folder(dag_id, run_id, step, index)}/result.json"
    backend = _backend()
    return MiniBatchResult(**json.loads(backend.read_bytes(path))) if backend.exists(path) else None


def _backend() -> Any:
    return get_backend(config.get("default_datastore"))


# -- error thresholds -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Azure ML's three limits; any one exceeded fails the step. -1 (or None) means no limit."""

    error_threshold: int
    allowed_failed_count: int | None
    allowed_failed_percent: float | None

    def exceeded(self, results: list[MiniBatchResult]) -> list[str]:
        """Which limits the results exceed, each as a sentence."""
        failed_items = sum(result.failed_items for result in results)
        failed = sum(1 for result in results if result.failed)
        broken = []
        if self.error_threshold != -1 and failed_items > self.error_threshold:
            broken.append(f"{failed_items} failed items (files or rows) exceed error_threshold {self.error_threshold}")
        if self.allowed_failed_count not in (None, -1) and failed > self.allowed_failed_count:
            broken.append(f"{failed} failed mini-batches exceed allowed_failed_count {self.allowed_failed_count}")
        if self.allowed_failed_percent is not None and results:
            percent, limit = 100.0 * failed / len(results), self.allowed_failed_percent
            if percent > limit:
                broken.append(f"{percent:.1f}% of the mini-batches failed, over allowed_failed_percent {limit}")
        return broken


def describe_failures(results: list[MiniBatchResult]) -> str:
    """The failed mini-batches and items, one line each (the first ``LISTED_FAILURES``)."""
    lines = []
    for result in results:
        if result.failed:
            lines.append(f"mini-batch {result.index} ({result.label}): {result.error}")
        elif result.failed_items:
            lines.append(
                f"mini-batch {result.index} ({result.label}): run() returned {result.succeeded} results for "
                f"{result.items} items, so {result.failed_items} count as failed"
            )
    more = len(lines) - LISTED_FAILURES
    return "\n".join(lines[:LISTED_FAILURES] + ([f"... and {more} more"] if more > 0 else []))
