"""Step outputs: staged while the script writes them, committed (files, then manifest) only on success."""

from __future__ import annotations

import logging
import os
from typing import Any

from amlflow import config
from amlflow.data.output_dataset_config import destination_path
from amlflow.exceptions import StepFailedError
from amlflow.storage import OutputStaging, get_backend
from amlflow.storage.base import join
from amlflow.storage.location import DataLocation, output_path

log = logging.getLogger(__name__)


class StagedOutputs:
    """The outputs of one step try. Use as a context manager: anything not committed is aborted."""

    def __init__(
        self,
        specs: list[dict[str, Any]],
        dag_id: str,
        run_id: str,
        task_id: str,
        uploads: list[tuple[dict[str, Any], str]] | None = None,
    ) -> None:
        """``uploads``: (spec, local folder) of DataReferences in ``upload`` mode, uploaded at commit."""
        self._uploads = list(uploads or [])
        self._staged: dict[str, OutputStaging] = {}
        self._specs = {spec["name"]: spec for spec in specs}
        #: the dataset each committed output dataset was registered as, by output name
        self.registered: dict[str, Any] = {}
        places = [(spec, *self._place(spec, dag_id, run_id, task_id)) for spec in specs]
        for spec, backend, path in places:  # all checked before anything is staged
            _refuse_to_overwrite(spec, backend, path)
        for spec, backend, path in places:
            self._staged[spec["name"]] = backend.stage_output(path)

    @staticmethod
    def _place(spec: dict[str, Any], dag_id: str, run_id: str, task_id: str) -> tuple[Any, str]:
        backend = get_backend(spec.get("datastore") or config.get("default_datastore"))
        return backend, committed_path(spec, dag_id, run_id, task_id)

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()

    def local_paths(self) -> dict[str, str]:
        """The local folder of each staged output, by name (where the script writes it)."""
        return {name: staging.local_dir for name, staging in self._staged.items()}

    def commit(self) -> dict[str, DataLocation]:
        """Upload DataReferences in upload mode, then commit every output (visible once its manifest is written)."""
        for spec, local_dir in self._uploads:
            upload_folder(spec, local_dir)
        self._uploads.clear()
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
                len(manifest.files),
            )
            del self._staged[name]
            log.info(
                "Output %s committed: %d files, %d bytes at %s",
                name,
                len(manifest.files),
                manifest.total_size,
                committed[name].uri,
            )
        # Registered once every output is committed: a step that fails half way registers nothing.
        for name, location in committed.items():
            registration = self._specs[name].get("register")
            if registration:
                self.registered[name] = register_output(registration, location)
        return committed

    def abort(self) -> None:
        """Drop every staged output without committing it."""
        for staging in self._staged.values():
            staging.abort()
        self._staged.clear()


def committed_path(spec: dict[str, Any], dag_id: str, run_id: str, task_id: str) -> str:
    """Where a step run commits an output: its destination (an output dataset's), or its run-scoped folder."""
    if spec.get("destination"):
        return destination_path(spec["destination"], dag_id, run_id, task_id, spec["name"])
    return output_path(dag_id, run_id, task_id, spec["name"])


def _refuse_to_overwrite(spec: dict[str, Any], backend: Any, path: str) -> None:
    """``as_upload(overwrite=False)``: an output dataset whose destination holds files fails before the script runs."""
    if spec.get("overwrite") is False and backend.list_files(path):
        raise StepFailedError(
            f"output {spec['name']!r}: {backend.uri(path)} holds files already and the output is "
            "as_upload(overwrite=False); use overwrite=True, or a destination with {run-id}"
        )


def register_output(registration: dict[str, Any], location: DataLocation) -> Any:
    """Register a committed output dataset's files as the next version of the dataset it names."""
    from amlflow.data import dataset_registry
    from amlflow.data.dataset_definition import FILE, make_definition

    definition = make_definition(FILE, [{"datastore": location.datastore, "path": location.path}])
    registered = dataset_registry.register(
        definition,
        None,
        registration["name"],
        registration.get("description"),
        registration.get("tags"),
        create_new_version=True,
    )
    log.info(
        "Output registered as dataset %r, version %s (id %s)", registered.name, registered.version, registered.saved_id
    )
    return registered


def upload_folder(spec: dict[str, Any], local_dir: str) -> int:
    """Upload what the script left in ``local_dir`` to the DataReference's path, file by file.

    Each file appears whole or not at all; with ``overwrite=False`` (Azure ML's default) files that already
    exist on the datastore are kept, so a retried step only adds what its failed try did not upload.
    """
    backend = get_backend(spec["datastore"])
    base = spec.get("path") or ""
    pairs = [
        (os.path.join(root, name), join(base, os.path.relpath(os.path.join(root, name), local_dir)))
        for root, _dirs, names in os.walk(local_dir)
        for name in sorted(names)
    ]
    count = backend.put_files(pairs, base, bool(spec.get("overwrite")), progress=False)
    log.info("Input %s (upload): %d of %d files uploaded to %s", spec["name"], count, len(pairs), backend.uri(base))
    return count
