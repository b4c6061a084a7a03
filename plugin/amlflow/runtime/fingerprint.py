"""The fingerprint of a step: one hash of everything that decides what the step computes.

It covers, as Azure ML's module fingerprint does, the step's kind and name, its code (the content hash
of its source snapshot, ``amlflow.runtime.snapshot``, and the script name), its arguments and parameter
values *as this run resolved them* (after Jinja rendering), its compute target, and its input and output
wiring (port names, modes, datastores). Unlike Azure ML it also covers what the inputs *contain*:

- a PipelineData input: the producer's manifest fingerprint (``DataLocation.fingerprint``), so an
  upstream step that re-ran but wrote the same bytes does not force this one to run again;
- a DataReference: every file under its path with its size and content tag (sha256 or blob ETag), from
  ``backend.list_files``, so new or changed data is noticed (except in ``upload`` mode, where the
  reference is where the step writes: only its wiring counts).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from amlflow.storage import get_backend
from amlflow.storage.location import DataLocation

#: Bumped whenever what goes into a fingerprint changes, so old index entries stop matching.
FINGERPRINT_VERSION = 1


def digest(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value``."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def data_fingerprint(where: DataLocation | tuple[str, str]) -> str:
    """What an input holds: a committed output's manifest fingerprint, or the listing of a reference."""
    if isinstance(where, DataLocation):
        return where.fingerprint
    datastore, path = where
    files = get_backend(datastore).list_files(path)
    return digest([datastore, [[info.path, info.size, info.tag] for info in files]])


def step_fingerprint(
    *,
    kind: str,
    name: str,
    code: str,
    script_name: str,
    arguments: list[Any],
    params: dict[str, str],
    compute: dict[str, Any] | None,
    inputs: list[tuple[dict[str, Any], DataLocation | tuple[str, str]]],
    outputs: list[dict[str, Any]],
) -> str:
    """The step's fingerprint; ``inputs`` pairs each input spec with where its data is in this run."""
    return digest(
        {
            "version": FINGERPRINT_VERSION,
            "kind": kind,
            "name": name,
            "code": code,
            "script_name": script_name,
            "arguments": arguments,
            "params": params,
            "compute": compute,
            "inputs": [{"spec": spec, "content": _content(spec, where)} for spec, where in inputs],
            "outputs": outputs,
        }
    )


def _content(spec: dict[str, Any], where: DataLocation | tuple[str, str]) -> str | None:
    # A DataReference in upload mode is where the step writes, not what it reads: what is there now
    # (e.g. the previous run's upload, with a new ETag) must not make the step look changed.
    if spec["kind"] == "Dataset":
        from amlflow.runtime.dataset_inputs import dataset_content  # it builds on this module's digest

        return dataset_content(where)
    return None if spec.get("mode") == "upload" else data_fingerprint(where)
