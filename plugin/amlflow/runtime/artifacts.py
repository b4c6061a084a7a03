"""A step's run artifacts: its stdout, stderr and metrics, kept under its run path in the default datastore.

Layout (paths from ``amlflow.storage.location``), written after the script ends, whether it succeeded
or failed::

    amlflow/<dag_id>/<run_id>/<step>/amlflow-artifacts/stdout.txt
    amlflow/<dag_id>/<run_id>/<step>/amlflow-artifacts/stderr.txt
    amlflow/<dag_id>/<run_id>/<step>/amlflow-artifacts/metrics.json        # the step run's get_metrics()
    amlflow/<dag_id>/<run_id>/amlflow-artifacts/parent-metrics/<step>.json  # what it logged on run.parent

``metrics.json`` is the dict ``Run.get_metrics()`` returns (``amlflow.core.run.fold_metrics``); the
pipeline run's metrics are the union of its steps' ``parent-metrics`` files. Metrics whose JSON is at
most 1 KB are also pushed to XCom under ``amlflow_metrics`` (:data:`METRICS_XCOM_KEY`), and every
metric is written to the task log. A reused step uploads nothing: its artifacts are those of the step
run its ``amlflow_reuse`` XCom names. :func:`read_metrics` and :func:`read_log` read them back.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from amlflow import config
from amlflow.core.run import (
    METRICS_FILE_ENV,
    PARENT,
    PIPELINE_RUN_ID_ENV,
    STEP,
    STEP_RUN_ID_ENV,
    fold_metrics,
    read_metrics_file,
)
from amlflow.storage import get_backend
from amlflow.storage.location import artifact_path, run_artifact_path

log = logging.getLogger(__name__)

METRICS_XCOM_KEY = "amlflow_metrics"
XCOM_METRIC_MAX_BYTES = 1024
LOGS = ("stdout", "stderr")


class StepArtifacts:
    """The artifact files of one step try, written locally while it runs, uploaded when it ends."""

    def __init__(self, workdir: str, dag_id: str, run_id: str, task_id: str) -> None:
        self.folder = os.path.join(workdir, "artifacts")
        os.makedirs(self.folder)
        self._ids = (dag_id, run_id, task_id)
        self.log_files = tuple(os.path.join(self.folder, f"{stream}.txt") for stream in LOGS)
        self.metrics_file = os.path.join(self.folder, "metrics.jsonl")

    def environment(self) -> dict[str, str]:
        """What the script's ``Run.get_context()`` reads."""
        _dag_id, run_id, task_id = self._ids
        return {
            METRICS_FILE_ENV: self.metrics_file,
            STEP_RUN_ID_ENV: f"{run_id}/{task_id}",
            PIPELINE_RUN_ID_ENV: run_id,
        }

    def upload(self) -> dict[str, Any]:
        """Upload logs and metrics; return the step run's metrics."""
        dag_id, run_id, task_id = self._ids
        backend = get_backend(config.get("default_datastore"))
        for stream, local in zip(LOGS, self.log_files, strict=True):
            if os.path.exists(local):
                backend.upload_file(local, artifact_path(dag_id, run_id, task_id, f"{stream}.txt"))
        records = read_metrics_file(self.metrics_file)
        metrics, parent_metrics = fold_metrics(records, STEP), fold_metrics(records, PARENT)
        backend.write_bytes(artifact_path(dag_id, run_id, task_id, "metrics.json"), json.dumps(metrics).encode())
        if parent_metrics:
            path = run_artifact_path(dag_id, run_id, f"parent-metrics/{task_id}.json")
            backend.write_bytes(path, json.dumps(parent_metrics).encode())
        for target, logged in ((STEP, metrics), (PARENT, parent_metrics)):
            for name, value in logged.items():
                log.info("Metric (%s run) %s = %s", target, name, json.dumps(value)[:200])
        log.info("Logs and metrics of this step: %s", backend.uri(artifact_path(dag_id, run_id, task_id, "")))
        return metrics


def small_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics small enough for XCom."""
    return {name: value for name, value in metrics.items() if len(json.dumps(value)) <= XCOM_METRIC_MAX_BYTES}


def read_metrics(dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    """A step run's metrics (``{}`` if it stored none): what ``StepRun.get_metrics()`` returns."""
    backend = get_backend(config.get("default_datastore"))
    path = artifact_path(dag_id, run_id, task_id, "metrics.json")
    return json.loads(backend.read_bytes(path)) if backend.exists(path) else {}


def read_log(dag_id: str, run_id: str, task_id: str, stream: str = "stdout") -> str:
    """A step run's ``stdout`` or ``stderr`` as stored (empty if it has none)."""
    if stream not in LOGS:
        raise ValueError(f"log stream {stream!r} is not one of {LOGS}")
    backend = get_backend(config.get("default_datastore"))
    path = artifact_path(dag_id, run_id, task_id, f"{stream}.txt")
    return backend.read_bytes(path).decode(errors="replace") if backend.exists(path) else ""


def artifact_names(dag_id: str, run_id: str, task_id: str) -> list[str]:
    """The names of a step run's stored files (``stdout.txt``, ``stderr.txt``, ``metrics.json``), sorted."""
    backend = get_backend(config.get("default_datastore"))
    base = artifact_path(dag_id, run_id, task_id, "").rstrip("/")
    return sorted(info.path[len(base) :].lstrip("/") for info in backend.list_files(base))


def download_artifact(dag_id: str, run_id: str, task_id: str, name: str, local_path: str) -> None:
    """Download one stored file of a step run; a name it does not have raises naming what it has."""
    from amlflow.exceptions import UserErrorException

    names = artifact_names(dag_id, run_id, task_id)
    if name not in names:
        raise UserErrorException(f"step run {run_id}/{task_id} has no file {name!r} (its files: {', '.join(names)})")
    get_backend(config.get("default_datastore")).download_file(artifact_path(dag_id, run_id, task_id, name), local_path)
