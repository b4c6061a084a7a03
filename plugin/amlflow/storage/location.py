"""Where a piece of pipeline data is: the small, self-describing value that travels in XCom."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

MARKER = "__amlflow__"
KIND = "PipelineData"


@dataclass(frozen=True)
class DataLocation:
    """A committed step output: datastore name, path, a URI to show, and its manifest's fingerprint."""

    datastore: str
    path: str
    uri: str
    fingerprint: str
    size: int = 0

    def to_xcom(self) -> dict[str, Any]:
        return {MARKER: KIND, **asdict(self)}

    @staticmethod
    def is_xcom(value: Any) -> bool:
        return isinstance(value, dict) and value.get(MARKER) == KIND

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> DataLocation:
        return cls(**{k: v for k, v in value.items() if k != MARKER})


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", part)


def output_path(dag_id: str, run_id: str, step: str, output: str) -> str:
    """The run-scoped folder of one step output: ``amlflow/<dag_id>/<run_id>/<step>/<output>``."""
    return "/".join(("amlflow", _safe(dag_id), _safe(run_id), _safe(step), _safe(output)))


def run_path(dag_id: str, run_id: str) -> str:
    return "/".join(("amlflow", _safe(dag_id), _safe(run_id)))
