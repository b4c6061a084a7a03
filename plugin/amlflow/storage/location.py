"""Where a piece of pipeline data is: the small, self-describing value that travels in XCom."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

MARKER = "__amlflow__"
KIND = "PipelineData"


@dataclass(frozen=True)
class DataLocation:
    """A committed step output: datastore name, path, a URI to show, its manifest's fingerprint, bytes and files."""

    datastore: str
    path: str
    uri: str
    fingerprint: str
    size: int = 0
    files: int = 0

    def to_xcom(self) -> dict[str, Any]:
        """The location as an XCom value, marked so it is recognised as one."""
        return {MARKER: KIND, **asdict(self)}

    @staticmethod
    def is_xcom(value: Any) -> bool:
        """Whether an XCom value is a DataLocation."""
        return isinstance(value, dict) and value.get(MARKER) == KIND

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> DataLocation:
        """The location an XCom value holds."""
        return cls(**{k: v for k, v in value.items() if k != MARKER})


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", part)


def output_path(dag_id: str, run_id: str, step: str, output: str) -> str:
    """The run-scoped folder of one step output: ``amlflow/<dag_id>/<run_id>/<step>/<output>``."""
    return "/".join(("amlflow", _safe(dag_id), _safe(run_id), _safe(step), _safe(output)))


def run_path(dag_id: str, run_id: str) -> str:
    """The datastore folder of one DAG run's data (``amlflow/<dag>/<run>``, each part made path-safe)."""
    return "/".join(("amlflow", _safe(dag_id), _safe(run_id)))


#: Folder of a step's own artifacts (logs, metrics). The hyphen keeps it apart from output folders,
#: whose names are words (letters, digits, underscores).
ARTIFACTS_FOLDER = "amlflow-artifacts"


def step_path(dag_id: str, run_id: str, step: str) -> str:
    """The run-scoped folder of one step: its outputs and its ``amlflow-artifacts`` folder."""
    return "/".join((run_path(dag_id, run_id), _safe(step)))


def artifact_path(dag_id: str, run_id: str, step: str, name: str) -> str:
    """``amlflow/<dag_id>/<run_id>/<step>/amlflow-artifacts/<name>``: a step's log or metrics file."""
    return "/".join((step_path(dag_id, run_id, step), ARTIFACTS_FOLDER, name))


def run_artifact_path(dag_id: str, run_id: str, name: str) -> str:
    """``amlflow/<dag_id>/<run_id>/amlflow-artifacts/<name>``: what belongs to the pipeline run as a whole."""
    return "/".join((run_path(dag_id, run_id), ARTIFACTS_FOLDER, name))


def reuse_index_path(fingerprint: str) -> str:
    """The reuse index entry of a step fingerprint (beside ``amlflow/``, so no DAG id can collide)."""
    return f"amlflow-reuse/{fingerprint[:2]}/{fingerprint}.json"


def snapshot_path(content_hash: str) -> str:
    """The stored copy of a source directory with this content hash."""
    return f"amlflow-snapshots/{content_hash}"
