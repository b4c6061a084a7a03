"""``Run``: what a step script logs metrics to, as ``azureml.core.Run`` (``Run.get_context()``).

Inside a step the operator gives the script a metrics file (``AMLFLOW_METRICS_FILE``); every ``log*``
call appends one JSON line to it, and the operator, after the script ends, logs the metrics in the task
log, uploads them to the default datastore and pushes small values to XCom
(``amlflow.runtime.artifacts``). Outside a step, ``Run.get_context()`` returns an offline run that, as
Azure ML's ``_OfflineRun``, prints each metric and keeps it in memory.

One metrics line: ``{"run": "step"|"parent", "kind": "scalar"|"list"|"row"|"table", "name", "value"}``.
``get_metrics()`` folds the lines as Azure ML shows them: a scalar logged once is its value, a scalar
logged again becomes a list; ``log_list`` gives a list; ``log_row`` and ``log_table`` give a table,
``{column: [values]}``.

This module imports only the standard library: a step script may run where Airflow is not installed.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

METRICS_FILE_ENV = "AMLFLOW_METRICS_FILE"
STEP_RUN_ID_ENV = "AMLFLOW_STEP_RUN_ID"
PIPELINE_RUN_ID_ENV = "AMLFLOW_PIPELINE_RUN_ID"

#: As ``amlflow.runtime.dataset_inputs.INPUT_DATASETS_ENV``; this module may not import it (see above).
INPUT_DATASETS_ENV = "AMLFLOW_INPUT_DATASETS"

STEP, PARENT = "step", "parent"


def fold_metrics(records: list[dict[str, Any]], run: str = STEP) -> dict[str, Any]:
    """The ``get_metrics()`` dict of one run (``step`` or ``parent``) from its metrics lines, in order."""
    metrics: dict[str, Any] = {}
    repeated: set[str] = set()
    for record in records:
        if record.get("run", STEP) != run:
            continue
        name, kind, value = record["name"], record["kind"], record["value"]
        if kind == "scalar":
            if name not in metrics:
                metrics[name] = value
            elif name in repeated:
                metrics[name].append(value)
            else:
                metrics[name] = [metrics[name], value]
                repeated.add(name)
        elif kind == "list":
            metrics[name] = list(metrics.get(name) or []) + list(value)
        else:  # row or table: columns of values
            table = metrics.setdefault(name, {})
            rows = {column: [cell] for column, cell in value.items()} if kind == "row" else value
            for column, cells in rows.items():
                table.setdefault(column, []).extend(cells)
    return metrics


def read_metrics_file(path: str) -> list[dict[str, Any]]:
    """The metrics lines of a file; a missing file is no metrics, a torn last line is ignored."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def _checked(name: str, value: Any) -> Any:
    if not isinstance(name, str) or not name:
        raise ValueError(f"metric name must be a non-empty string, got {name!r}")
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        raise TypeError(f"metric {name!r}: a value of type {type(value).__name__} cannot be logged") from None
    return value


class Run:
    """A step run of a pipeline run, or an offline run outside any pipeline."""

    def __init__(self, run_id: str, metrics_file: str | None, target: str = STEP, parent_id: str | None = None):
        self.id = run_id
        self._metrics_file = metrics_file
        self._target = target
        self._parent_id = parent_id
        self._offline: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}{', offline' if self._metrics_file is None else ''})"

    @classmethod
    def get_context(cls, allow_offline: bool = True, **kwargs: Any) -> Run:
        """The run of the step this script is running in; offline (kept locally) outside a step."""
        metrics_file = os.environ.get(METRICS_FILE_ENV)
        if metrics_file:
            return cls(os.environ.get(STEP_RUN_ID_ENV, "step"), metrics_file, STEP, os.environ.get(PIPELINE_RUN_ID_ENV))
        if not allow_offline:
            raise RuntimeError("Run.get_context(allow_offline=False): this script is not running in a pipeline step")
        return cls(f"OfflineRun_{uuid.uuid4()}", None)

    @property
    def parent(self) -> Run | None:
        """The pipeline run this step belongs to; metrics logged on it belong to the whole run."""
        if self._target == PARENT:
            return None
        if self._metrics_file is None:
            parent = Run(f"{self.id}_parent", None, PARENT)
            parent._offline = self._offline
            return parent
        return Run(self._parent_id or "pipeline", self._metrics_file, PARENT)

    @property
    def input_datasets(self) -> dict[str, Any]:
        """The step's dataset inputs by name: a local path (mount, download) or the dataset itself (direct).

        The task hands them over in ``AMLFLOW_INPUT_DATASETS``; a direct dataset reads files the task downloaded.
        """
        given = json.loads(os.environ.get(INPUT_DATASETS_ENV) or "{}") if self._metrics_file else {}
        return {name: entry["path"] if "path" in entry else _dataset(entry) for name, entry in given.items()}

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log a scalar; logging the same name again makes the metric a list."""
        self._write("scalar", name, _checked(name, value))

    def log_list(self, name: str, value: list[Any], description: str = "") -> None:
        """Log a list metric: ``value``'s items as one entry (``description`` is accepted and not kept)."""
        self._write("list", name, list(_checked(name, list(value))))

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Log one row of a table metric: each keyword is a column."""
        self._write("row", name, _checked(name, kwargs))

    def log_table(self, name: str, value: dict[str, list[Any]], description: str = "") -> None:
        """Log a table metric: ``{column: [values]}``."""
        _checked(name, value)
        self._write("table", name, {column: list(cells) for column, cells in value.items()})

    def get_metrics(self, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """The metrics logged so far on this run by this script (all of them, or the one named)."""
        records = self._offline if self._metrics_file is None else read_metrics_file(self._metrics_file)
        metrics = fold_metrics(records, self._target)
        return metrics if name is None else {k: v for k, v in metrics.items() if k == name}

    def _write(self, kind: str, name: str, value: Any) -> None:
        record = {"run": self._target, "kind": kind, "name": name, "value": value}
        if self._metrics_file is None:
            self._offline.append(record)
            print(f"Attempted to log {kind} metric {name}:\n{value}")
            return
        # One write of one line per call: lines from several processes of a step never interleave.
        with open(self._metrics_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _dataset(entry: dict[str, Any]) -> Any:
    # Only a script that reads a dataset directly needs amlflow's data library (and pandas, for tabular ones).
    from amlflow.data.dataset_values import dataset_from_value

    return dataset_from_value(entry)
