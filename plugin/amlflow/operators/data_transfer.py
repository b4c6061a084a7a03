"""``DataTransferStepOperator``: a DataTransferStep's copy between two datastores, checked, then committed."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from amlflow.exceptions import StepFailedError
from amlflow.extra_links import STEP_LINKS
from amlflow.runtime.fingerprint import step_fingerprint
from amlflow.runtime.inputs import locate_input, resolve_input
from amlflow.runtime.lifecycle import StepLifecycle
from amlflow.runtime.tries import step_retry_arguments, step_try
from amlflow.runtime.written_outputs import commit_written_output
from amlflow.storage import DatastoreBackend, FileInfo, get_backend, leases
from amlflow.storage.base import join
from amlflow.storage.local import LocalBackend
from amlflow.storage.location import DataLocation
from amlflow.storage.manifest import Manifest

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DataTransferStepOperator(BaseOperator):
    """Copy the step's one input to ``destination`` with the destination backend's ``copy_from``.

    Azure Blob to Azure Blob is a server-side copy (the worker sends requests, never the bytes); anything
    with a local datastore streams file by file. Before the copy the destination's manifest is removed
    (and with ``overwrite`` the files under it); after it, every copied file must be at its place with the
    source's size, and MD5 (or SHA-256 between local stores) where both sides have one; only then is the
    destination's manifest written and its DataLocation pushed as the step's output.

    A ``SqlDataReference`` source (``kind: SqlDataReference``, its ``sql``) is run on its database and its
    rows written as one CSV file (``SqlBackend.export_csv``) in a leased scratch folder, then copied and
    checked the same way: to the destination itself when it is a ``'file'``, else as
    ``<input name>.csv`` in the destination folder.

    :param destination: ``{"datastore", "path", "overwrite"}`` of the destination DataReference.
    :param source_reference_type: ``'file'``, ``'directory'`` or None (found from the source).
    :param destination_reference_type: ``'file'``, ``'directory'`` or None (the source's type).
    :param inputs: the source's input spec (one).
    :param outputs: the output spec (one: its name is the XCom key of the copy's location).
    """

    template_fields: Sequence[str] = ()
    operator_extra_links = STEP_LINKS
    ui_color = "#fde8c8"

    def __init__(
        self,
        *,
        destination: dict[str, Any],
        inputs: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        source_reference_type: str | None = None,
        destination_reference_type: str | None = None,
        compute_target: dict[str, Any] | None = None,
        allow_reuse: bool = True,
        **kwargs: Any,
    ) -> None:
        self._retries_are_ours = step_retry_arguments(kwargs)
        super().__init__(**kwargs)
        self.destination = dict(destination)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.source_reference_type = source_reference_type
        self.destination_reference_type = destination_reference_type
        self.compute_target = compute_target
        self.allow_reuse = allow_reuse

    def execute(self, context: Any) -> None:
        """Copy the source to the destination, as one step try, unless an identical earlier copy stands."""
        with step_try(context, self.log, [], self._retries_are_ours):
            self._execute(context)

    def _execute(self, context: Any) -> None:
        spec = self.inputs[0]
        is_query = spec["kind"] == "SqlDataReference"
        where = None if is_query else locate_input(spec, context["ti"])
        fingerprint = step_fingerprint(
            kind="DataTransferStep",
            name=self.task_id,
            code="",
            script_name="",
            arguments=[],
            params={
                "destination": self.destination,
                "source_reference_type": self.source_reference_type,
                "destination_reference_type": self.destination_reference_type,
                "query": spec if is_query else None,
            },
            compute=self.compute_target,
            inputs=[] if is_query else [(spec, where)],
            outputs=self.outputs,
        )
        # A query's rows change while its text stays the same, and amlflow cannot fingerprint rows: it
        # exports them every time rather than hand on stale ones.
        if is_query and self.allow_reuse:
            self.log.info("The source is a SqlDataReference, whose rows cannot be fingerprinted: it is exported again")
        lifecycle = StepLifecycle(context, self.outputs, fingerprint, self.allow_reuse and not is_query, self.log)
        if lifecycle.reused("nothing is copied"):
            return
        location = self._export(spec) if is_query else self._copy(spec, where)
        lifecycle.finish({self.outputs[0]["name"]: location})

    def _copy(self, spec: dict[str, Any], where: Any) -> DataLocation:
        source, source_path = resolve_input(spec, where)
        dest = get_backend(self.destination["datastore"])
        dest_root = self.destination["path"].strip("/")
        files = source.list_files(source_path)
        is_file = len(files) == 1 and files[0].path == source_path.strip("/")
        source_type = self.source_reference_type or ("file" if is_file else "directory")
        if source_type == "file" and not is_file:
            raise StepFailedError(
                f"step {self.task_id!r}: source_reference_type is 'file' but {source.uri(source_path)} is a folder "
                f"of {len(files)} files"
            )
        dest_type = self.destination_reference_type or source_type
        if source_type == "file":
            target = dest_root if dest_type == "file" else join(dest_root, files[0].path.rsplit("/", 1)[-1])
            placed = {files[0].path: target}
            copy_from, copy_to = files[0].path, target
        else:
            base = source_path.strip("/")
            placed = {f.path: join(dest_root, f.path[len(base) :].lstrip("/")) for f in files}
            copy_from, copy_to = source_path, dest_root

        self._uncommit(dest, dest_root)
        total = sum(f.size for f in files)
        self.log.info(
            "Copying %d files (%d bytes) from %s (%s) to %s (%s)",
            len(files),
            total,
            source.uri(source_path),
            source.kind,
            dest.uri(copy_to),
            dest.kind,
        )
        return self._place(source, copy_from, files, dest, copy_to, placed, dest_root)

    def _uncommit(self, dest: DatastoreBackend, dest_root: str) -> None:
        """From here until the new manifest, no step reads the destination."""
        dest.delete(Manifest.path_for(dest_root))
        if self.destination.get("overwrite"):
            removed = dest.delete_prefix(dest_root)
            self.log.info("overwrite: removed %d files under %s", removed, dest.uri(dest_root))

    def _place(
        self,
        source: DatastoreBackend,
        copy_from: str,
        files: list[FileInfo],
        dest: DatastoreBackend,
        copy_to: str,
        placed: dict[str, str],
        dest_root: str,
    ) -> DataLocation:
        """Copy, check every file, commit the destination; return its location."""
        dest.copy_from(source, copy_from, copy_to)
        checked = self._verify(source, files, dest, placed, dest_root)
        self.log.info("Verified %d files: sizes, and %s", len(files), checked)
        return commit_written_output(dest, dest_root)

    def _export(self, spec: dict[str, Any]) -> DataLocation:
        """A SqlDataReference: its rows as one CSV file at the destination, checked, then committed."""
        from amlflow.storage.sql import SqlBackend

        source = get_backend(spec["datastore"])
        if not isinstance(source, SqlBackend):
            raise StepFailedError(
                f"step {self.task_id!r}: input {spec['name']!r} is a SqlDataReference, but datastore "
                f"{spec['datastore']!r} is not a SQL database ({source.kind}: {source.uri('')})"
            )
        dest = get_backend(self.destination["datastore"])
        dest_root = self.destination["path"].strip("/")
        dest_type = self.destination_reference_type
        if dest_type is None:  # Azure ML: the type of what is there; a new path is a directory
            there = dest.list_files(dest_root)
            dest_type = "file" if len(there) == 1 and there[0].path == dest_root else "directory"
        target = dest_root if dest_type == "file" else join(dest_root, f"{spec['name']}.csv")
        self._uncommit(dest, dest_root)
        with leases.take(leases.work_root(), "sql-") as scratch:
            rows = source.export_csv(spec["sql"], os.path.join(scratch.path, "rows.csv"))
            exported = LocalBackend(f"{spec['name']}-export", scratch.path)
            files = exported.list_files("rows.csv")
            self.log.info(
                "Exported %d rows (%d bytes of CSV) of %s from %s (%s) to %s (%s)",
                rows,
                files[0].size,
                _one_line(spec["sql"]),
                source.uri(""),
                source.datastore_type,
                dest.uri(target),
                dest.kind,
            )
            return self._place(exported, "rows.csv", files, dest, target, {"rows.csv": target}, dest_root)

    def _verify(
        self,
        source: DatastoreBackend,
        files: list[FileInfo],
        dest: DatastoreBackend,
        placed: dict[str, str],
        dest_root: str,
    ) -> str:
        """Fail unless every copied file is at its place with the same size and (where known) digest."""
        found = {info.path: info for info in dest.list_files(dest_root)}
        compared: dict[str, int] = {}
        for info in files:
            copy = found.get(placed[info.path])
            where = f"{source.uri(info.path)} -> {dest.uri(placed[info.path])}"
            if copy is None:
                raise StepFailedError(f"step {self.task_id!r}: copy missing after transfer: {where}")
            if copy.size != info.size:
                raise StepFailedError(f"step {self.task_id!r}: copy has {copy.size} bytes, source {info.size}: {where}")
            algorithm = _common_digest(info.tag, copy.tag, source, dest)
            if algorithm is None:
                continue
            if _digest(source, info, algorithm) != _digest(dest, copy, algorithm):
                raise StepFailedError(f"step {self.task_id!r}: {algorithm} of the copy differs: {where}")
            compared[algorithm] = compared.get(algorithm, 0) + 1
        return ", ".join(f"{algo} of {n}" for algo, n in sorted(compared.items())) or "no digest (none known)"


def _one_line(sql: str, limit: int = 200) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _common_digest(source_tag: str, dest_tag: str, source: DatastoreBackend, dest: DatastoreBackend) -> str | None:
    """The digest both sides can give: a stored MD5, or one computed from a local file; SHA-256 between
    local stores. None when a blob side has only an ETag."""
    sides = ((source_tag, source), (dest_tag, dest))
    if all(tag.startswith("md5:") or backend.kind == "local" for tag, backend in sides):
        return "sha256" if all(_SHA256.match(tag) for tag, _ in sides) else "md5"
    return None


def _digest(backend: DatastoreBackend, info: FileInfo, algorithm: str) -> str:
    if algorithm == "md5" and info.tag.startswith("md5:"):
        return info.tag.removeprefix("md5:")
    if algorithm == "sha256" and _SHA256.match(info.tag):
        return info.tag
    local = backend.local_path(info.path)
    digest = hashlib.new(algorithm)
    with open(local, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
