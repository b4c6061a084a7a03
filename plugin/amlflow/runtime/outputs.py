"""Step outputs: staged while the script writes them, committed (files, then manifest) only on success."""

from __future__ import annotations

import logging
from typing import Any

from amlflow import config
from amlflow.storage import OutputStaging, get_backend
from amlflow.storage.location import DataLocation, output_path

log = logging.getLogger(__name__)


class StagedOutputs:
    """The outputs of one step try. Use as a context manager: anything not committed is aborted."""

    def __init__(self, specs: list[dict[str, Any]], dag_id: str, run_id: str, task_id: str) -> None:
        self._staged: dict[str, OutputStaging] = {}
        for spec in specs:
            backend = get_backend(spec.get("datastore") or config.get("default_datastore"))
            staging = backend.stage_output(output_path(dag_id, run_id, task_id, spec["name"]))
            self._staged[spec["name"]] = staging

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()

    def local_paths(self) -> dict[str, str]:
        return {name: staging.local_dir for name, staging in self._staged.items()}

    def commit(self) -> dict[str, DataLocation]:
        """Commit every output; each becomes visible only once its manifest is written."""
        committed = {}
        for name, staging in list(self._staged.items()):
            manifest = staging.commit()
            backend = staging.backend
            committed[name] = DataLocation(
                backend.name,
                staging.path,
                backend.uri(staging.path),
                manifest.fingerprint,
                manifest.total_size,
            )
            del self._staged[name]
            log.info(
                "Output %s committed: %d files, %d bytes at %s",
                name,
                len(manifest.files),
                manifest.total_size,
                committed[name].uri,
            )
        return committed

    def abort(self) -> None:
        for staging in self._staged.values():
            staging.abort()
        self._staged.clear()
