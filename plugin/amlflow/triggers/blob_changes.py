"""``BlobChangeTrigger``: the asset watcher behind an Azure ML datastore schedule (``Schedule.create(...,
datastore=...)``), firing one event per blob added or modified directly under a folder of a datastore."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from amlflow.exceptions import DatastoreError
from amlflow.storage.base import DatastoreBackend, FileInfo, join

#: Layout version of the state file; a file of another version is treated as missing (a new baseline).
STATE_VERSION = 1

#: How long after yielding events the trigger waits before it records them as seen. The triggerer hands
#: yielded events to its supervisor, which writes them to the metadata database, about once a second; five
#: seconds leaves room for a busy triggerer, and a triggerer that dies within them re-fires (see ``run``).
SETTLE_SECONDS = 5.0


def default_state_path(schedule_id: str) -> str:
    """Where a schedule keeps its seen-state unless told otherwise: under ``amlflow/``, which is never watched."""
    return join("amlflow", "schedules", schedule_id, "blob-changes.json")


def _folder(path_on_datastore: str | None) -> str:
    return (path_on_datastore or "").strip("/")


def _directly_under(folder: str, info: FileInfo) -> bool:
    rel = info.path[len(folder) + 1 :] if folder else info.path
    if folder and not info.path.startswith(folder + "/"):
        return False
    return bool(rel) and "/" not in rel


def _is_amlflow_own(path: str) -> bool:
    # amlflow keeps registries, leases and staging at the container root under these names; they are
    # bookkeeping, not data, and a schedule on the root must not fire for them.
    first = path.split("/", 1)[0]
    return first == "amlflow" or first.startswith(("amlflow-", "amlflow."))


def watched_files(backend: DatastoreBackend, path_on_datastore: str | None, state_path: str) -> dict[str, FileInfo]:
    """The files a schedule on ``path_on_datastore`` watches now, by path: direct children of the folder only,
    without amlflow's own files and the schedule's state file."""
    folder = _folder(path_on_datastore)
    state = state_path.strip("/")
    # list_files is recursive: sub-folders are listed and dropped here (Azure ML watches one level only).
    return {
        info.path: info
        for info in backend.list_files(folder)
        if _directly_under(folder, info) and info.path != state and not _is_amlflow_own(info.path)
    }


def _read_state(backend: DatastoreBackend, state_path: str, watching: dict[str, Any]) -> dict[str, str] | None:
    """The seen blobs (path -> tag) recorded for exactly this watch, or None if there is no usable record."""
    if not backend.list_files(state_path):
        return None
    try:
        doc = json.loads(backend.read_bytes(state_path))
    except ValueError:
        return None
    if doc.get("version") != STATE_VERSION or doc.get("watching") != watching:
        # Another folder or datastore than the one recorded: its seen blobs say nothing about this one.
        return None
    seen = doc.get("seen")
    return {str(k): str(v) for k, v in seen.items()} if isinstance(seen, dict) else None


def _write_state(backend: DatastoreBackend, state_path: str, watching: dict[str, Any], seen: dict[str, str]) -> None:
    doc = {"version": STATE_VERSION, "watching": watching, "seen": dict(sorted(seen.items()))}
    backend.write_bytes(state_path, json.dumps(doc, indent=1).encode())


def record_baseline(datastore: str, path_on_datastore: str | None, state_path: str) -> int:
    """Record every blob now in the watched folder as seen; returns how many.

    ``Schedule.create`` calls this when the schedule is made, so that the watcher, which starts later
    (once the DAG file is parsed and a triggerer picks it up), fires for what changed in between, as
    Azure ML does, and not for what was there before.
    """
    from amlflow.storage import get_backend

    backend = get_backend(datastore)
    files = watched_files(backend, path_on_datastore, state_path)
    watching = {"datastore": datastore, "path_on_datastore": _folder(path_on_datastore) or None}
    _write_state(backend, state_path, watching, {path: info.tag for path, info in files.items()})
    return len(files)


def _describe(error: Exception) -> str:
    # DatastoreError messages are scrubbed of the connection's secrets by the backends; anything else may
    # quote a request or a connection string, so only its type is logged.
    return str(error) if isinstance(error, DatastoreError) else type(error).__name__


def event_id(schedule_id: str | None, datastore: str, path: str, tag: str) -> str:
    """A stable id of one change, the same each time it is re-fired, so a consumer can drop duplicates."""
    key = json.dumps([schedule_id, datastore, path, tag]).encode()
    return hashlib.sha256(key).hexdigest()[:32]


class BlobChangeTrigger(BaseEventTrigger):
    """Poll a datastore folder every ``polling_interval`` seconds; one event per blob added or modified
    directly under ``path_on_datastore`` (None: the container root). Sub-folders are not watched.

    What it has seen lives in the file ``state_path`` of the same datastore, not in the trigger's kwargs
    (those are only ever the initial state): a new instance, after a triggerer restart, a paused-then-resumed
    DAG or a new DAG version with other kwargs, carries on from that file, firing for what changed meanwhile
    and not again for what it already fired. With no state file the first poll records a baseline and fires
    nothing, except for blobs whose listing says they were modified after ``created_after`` (an ISO 8601
    time; only backends whose ``FileInfo`` has ``last_modified`` can say, which none does yet, so
    ``Schedule.create`` should call ``record_baseline`` instead).

    A change is a new path, or a new content tag (MD5 or ETag) of a known path; a deleted blob is forgotten,
    so a blob written again at that path fires again. Each event's payload is JSON:
    ``{"datastore", "path", "tag", "size", "change": "added"|"modified", "schedule_id",
    "data_path_parameter_name", "event_id"}``, with ``path`` relative to the datastore root.
    """

    def __init__(
        self,
        datastore: str,
        state_path: str,
        path_on_datastore: str | None = None,
        polling_interval: float = 300.0,
        schedule_id: str | None = None,
        data_path_parameter_name: str | None = None,
        created_after: str | None = None,
    ) -> None:
        super().__init__()
        if polling_interval <= 0:
            raise ValueError(f"polling_interval must be positive, not {polling_interval!r}")
        if created_after is not None:
            datetime.fromisoformat(created_after)  # fail at parse time, not in the triggerer
        self.datastore = datastore
        self.state_path = state_path.strip("/")
        self.path_on_datastore = _folder(path_on_datastore) or None
        self.polling_interval = float(polling_interval)
        self.schedule_id = schedule_id
        self.data_path_parameter_name = data_path_parameter_name
        self.created_after = created_after

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The trigger's class path and kwargs: plain values fixed at parse, since Airflow identifies an asset watcher
        by their hash.
        """
        # Plain JSON values only, and nothing computed at parse time: Airflow identifies an asset watcher by
        # the hash of these kwargs, so a value that changes between parses would replace the trigger each time.
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "datastore": self.datastore,
                "state_path": self.state_path,
                "path_on_datastore": self.path_on_datastore,
                "polling_interval": self.polling_interval,
                "schedule_id": self.schedule_id,
                "data_path_parameter_name": self.data_path_parameter_name,
                "created_after": self.created_after,
            },
        )

    @property
    def _watching(self) -> dict[str, Any]:
        return {"datastore": self.datastore, "path_on_datastore": self.path_on_datastore}

    def _payload(self, info: FileInfo, change: str) -> dict[str, Any]:
        return {
            "datastore": self.datastore,
            "path": info.path,
            "tag": info.tag,
            "size": info.size,
            "change": change,
            "schedule_id": self.schedule_id,
            "data_path_parameter_name": self.data_path_parameter_name,
            "event_id": event_id(self.schedule_id, self.datastore, info.path, info.tag),
        }

    def _baseline(self, files: dict[str, FileInfo]) -> tuple[dict[str, str], list[FileInfo]]:
        """The first poll with no state: what counts as seen, and what already changed after ``created_after``."""
        after = datetime.fromisoformat(self.created_after) if self.created_after else None
        seen: dict[str, str] = {}
        fresh: list[FileInfo] = []
        for path, info in files.items():
            modified = getattr(info, "last_modified", None)
            if after is not None and isinstance(modified, datetime) and modified > after:
                fresh.append(info)
            else:
                seen[path] = info.tag
        return seen, fresh

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the folder forever, firing one event per blob added or modified since the last poll; a failing datastore
        is retried at the next poll.
        """
        from amlflow.storage import get_backend

        while True:
            try:
                # Resolving the datastore may read its connection: blocking, like every storage call below.
                backend = await asyncio.to_thread(get_backend, self.datastore)
                break
            except Exception as error:
                self.log.warning("Datastore %r cannot be resolved: %s", self.datastore, _describe(error))
                await asyncio.sleep(self.polling_interval)
        seen = await self._load(backend)
        first = seen is None
        unsaved = False
        while True:
            started = time.monotonic()
            fired = 0
            try:
                files = await asyncio.to_thread(watched_files, backend, self.path_on_datastore, self.state_path)
            except Exception as error:
                # A datastore that is down now may be back at the next poll; a watcher that raised would be
                # restarted at once by the triggerer, in a tight loop.
                self.log.warning(
                    "Datastore %r: listing for schedule %s failed: %s",
                    self.datastore,
                    self.schedule_id,
                    _describe(error),
                )
                await asyncio.sleep(self.polling_interval)
                continue
            if first:
                seen, fresh = self._baseline(files)
                changes = [(info, "added") for info in fresh]
                first = False
                self.log.info(
                    "Datastore %r: watching %s, %d blobs there already",
                    self.datastore,
                    self.path_on_datastore or "the container root",
                    len(seen),
                )
                dirty = True
            else:
                seen = seen if seen is not None else {}
                changes = [
                    (info, "added" if path not in seen else "modified")
                    for path, info in files.items()
                    if seen.get(path) != info.tag
                ]
                gone = [path for path in seen if path not in files]
                for path in gone:
                    del seen[path]
                dirty = bool(gone)
            for info, change in changes:
                seen[info.path] = info.tag
                dirty = True
                fired += 1
                self.log.info("Datastore %r: %s %s (%s)", self.datastore, change, info.path, info.tag)
                yield TriggerEvent(self._payload(info, change))
            unsaved = unsaved or dirty
            if unsaved:
                # Recorded only after the events had time to reach the metadata database, not before yielding:
                # yield hands an event to an in-memory queue, so a triggerer that dies right after it loses the
                # event, and with the state already written the next instance would never fire it (at most
                # once). Written after a delay, a triggerer that dies in between costs at worst a re-fire of
                # the same change with the same ``event_id`` (at least once), which the consumer drops.
                # Airflow 3.3 tells a plain watcher nothing of when its events are persisted, so no order
                # of this trigger's own can make it exactly once.
                await asyncio.sleep(min(SETTLE_SECONDS, self.polling_interval) if fired else 0)
                unsaved = not await self._save(backend, seen)
            await asyncio.sleep(max(0.0, self.polling_interval - (time.monotonic() - started)))

    async def _load(self, backend: DatastoreBackend) -> dict[str, str] | None:
        while True:
            try:
                return await asyncio.to_thread(_read_state, backend, self.state_path, self._watching)
            except Exception as error:
                # Never fall back to a baseline when the state could not be read: that would skip changes.
                self.log.warning(
                    "Datastore %r: reading %s failed: %s", self.datastore, self.state_path, _describe(error)
                )
                await asyncio.sleep(self.polling_interval)

    async def _save(self, backend: DatastoreBackend, seen: dict[str, str]) -> bool:
        try:
            await asyncio.to_thread(_write_state, backend, self.state_path, self._watching, dict(seen))
            return True
        except Exception as error:
            # Kept in memory and tried again after the next poll; a restart before then re-fires (at least once).
            self.log.warning("Datastore %r: writing %s failed: %s", self.datastore, self.state_path, _describe(error))
            return False
