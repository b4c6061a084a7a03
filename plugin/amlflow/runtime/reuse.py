"""Step reuse: a step whose fingerprint matches a committed earlier run hands on that run's outputs.

The index lives in the default datastore, one JSON object per fingerprint at
``amlflow-reuse/<fp[:2]>/<fp>.json``::

    {"fingerprint": ..., "dag_id": ..., "run_id": ..., "task_id": ...,
     "outputs": {"<output name>": <DataLocation XCom value>}, "recorded_at": "<ISO time>"}

Rules that keep it safe when runs share it:

- an entry is written only after the step succeeded and every output's manifest exists; a failed step
  is never indexed;
- it is written in one piece (``write_bytes`` is atomic); two runs reaching the same fingerprint at once
  each write a complete entry naming their own committed outputs, and the last one stays;
- before reusing, every output the entry names must still have a manifest with the same fingerprint;
  an entry that fails this check is ignored (the step runs and its new entry replaces it).

How a run shows reuse: a reused step pushes the XCom ``amlflow_reuse`` (:data:`REUSE_XCOM_KEY`), naming
the step run whose outputs, logs and metrics stand in for it; a step that ran has no such XCom::

    {"reused": true, "fingerprint": "<sha256>",
     "reused_dag_id": ..., "reused_run_id": ..., "reused_task_id": ...}

Every step, reused or not, pushes its fingerprint as ``amlflow_fingerprint`` (:data:`FINGERPRINT_XCOM_KEY`):
two runs of a step with different fingerprints differ in code, arguments, parameters or input data.

A run triggered with ``conf={"regenerate_outputs": true}`` (what ``submit(regenerate_outputs=True)``
sends) reuses nothing; the outputs it makes are indexed for later runs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from amlflow import config
from amlflow.storage import get_backend
from amlflow.storage.location import DataLocation, reuse_index_path

log = logging.getLogger(__name__)

REUSE_XCOM_KEY = "amlflow_reuse"
FINGERPRINT_XCOM_KEY = "amlflow_fingerprint"
REGENERATE_CONF_KEY = "regenerate_outputs"


@dataclass(frozen=True)
class ReuseEntry:
    """A committed earlier step run and the outputs it left."""

    fingerprint: str
    dag_id: str
    run_id: str
    task_id: str
    outputs: dict[str, DataLocation]

    def describe(self) -> str:
        """The reused step run, for messages and asset events."""
        return f"step {self.task_id!r} of run {self.run_id!r} (DAG {self.dag_id!r})"


def regenerate_requested(conf: dict[str, Any] | None) -> bool:
    """Whether the run's conf asks for every step to run (``true``, ``"true"``, ``1``)."""
    value = (conf or {}).get(REGENERATE_CONF_KEY, False)
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def find_reusable(fingerprint: str, output_names: list[str]) -> ReuseEntry | None:
    """The indexed run with this fingerprint, if all its outputs are still committed as recorded."""
    backend = get_backend(config.get("default_datastore"))
    path = reuse_index_path(fingerprint)
    if not backend.exists(path):
        return None
    try:
        body = json.loads(backend.read_bytes(path))
        entry = ReuseEntry(
            body["fingerprint"],
            body["dag_id"],
            body["run_id"],
            body["task_id"],
            {name: DataLocation.from_xcom(value) for name, value in body["outputs"].items()},
        )
    except (ValueError, KeyError, TypeError) as error:
        log.warning("Reuse index entry %s is unreadable (%s): the step will run", backend.uri(path), error)
        return None
    problem = _problem(entry, fingerprint, output_names)
    if problem:
        log.warning("Not reusing %s: %s; the step will run", entry.describe(), problem)
        return None
    return entry


def _problem(entry: ReuseEntry, fingerprint: str, output_names: list[str]) -> str | None:
    if entry.fingerprint != fingerprint:
        return "its index entry is for another fingerprint"
    if sorted(entry.outputs) != sorted(output_names):
        return f"it has outputs {sorted(entry.outputs)}, this step {sorted(output_names)}"
    for name, location in entry.outputs.items():
        manifest = get_backend(location.datastore).read_manifest(location.path)
        if manifest is None:
            return f"output {name!r} at {location.uri} is no longer committed"
        if manifest.fingerprint != location.fingerprint:
            return f"output {name!r} at {location.uri} was rewritten since"
    return None


def record(fingerprint: str, dag_id: str, run_id: str, task_id: str, outputs: dict[str, DataLocation]) -> None:
    """Index a step run whose outputs are all committed (call only after a successful commit)."""
    backend = get_backend(config.get("default_datastore"))
    body = {
        "fingerprint": fingerprint,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "outputs": {name: location.to_xcom() for name, location in outputs.items()},
        "recorded_at": datetime.now(UTC).isoformat(),
    }
    backend.write_bytes(reuse_index_path(fingerprint), json.dumps(body, indent=1).encode())


def reuse_xcom(entry: ReuseEntry) -> dict[str, Any]:
    """The ``amlflow_reuse`` XCom value of a step that reused ``entry``."""
    return {
        "reused": True,
        "fingerprint": entry.fingerprint,
        "reused_dag_id": entry.dag_id,
        "reused_run_id": entry.run_id,
        "reused_task_id": entry.task_id,
    }


def reusable_run(
    fingerprint: str, allow_reuse: bool, conf: dict[str, Any] | None, output_names: list[str], log: logging.Logger
) -> ReuseEntry | None:
    """The earlier run a step with ``fingerprint`` may take its outputs from: none with ``allow_reuse=False``
    or when the run asked for ``regenerate_outputs``."""
    if not allow_reuse:
        log.info("allow_reuse=False: the step runs (fingerprint %s)", fingerprint)
        return None
    if regenerate_requested(conf):
        log.info("The run asked for regenerate_outputs: the step runs (fingerprint %s)", fingerprint)
        return None
    return find_reusable(fingerprint, output_names)
