"""``BlobChangeTrigger`` on Azurite: one event per blob added or modified directly under the watched folder,
none for sub-folders or amlflow's own files, and no re-fire after a restart from the same kwargs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from amlflow.storage.registry import forget_backends
from amlflow.triggers.blob_changes import BlobChangeTrigger, default_state_path, record_baseline

CONTAINER = "blob-change-trigger"
ROOT_CONTAINER = "blob-change-trigger-root"
DATASTORE = "blobwatch"
ROOT_DATASTORE = "blobwatchroot"
POLL = 0.2
QUIET = 8 * POLL  # several polls: long enough for a wrong event to show up


@pytest.fixture
def container(azurite, monkeypatch):
    """Datastore ``blobwatch`` on an Azurite container (tests keep apart by folder)."""
    client = azurite.container(CONTAINER)
    monkeypatch.setenv(f"AIRFLOW_CONN_{DATASTORE.upper()}", azurite.connection_json(CONTAINER))
    forget_backends()
    yield client
    forget_backends()


@pytest.fixture
def root_container(azurite, monkeypatch):
    """Datastore ``blobwatchroot``: a container of its own, emptied, for the test that watches the root."""
    client = azurite.container(ROOT_CONTAINER)
    for blob in client.list_blobs():
        client.delete_blob(blob.name)
    monkeypatch.setenv(f"AIRFLOW_CONN_{ROOT_DATASTORE.upper()}", azurite.connection_json(ROOT_CONTAINER))
    forget_backends()
    yield client
    forget_backends()


def folder() -> str:
    return f"landing-{uuid.uuid4().hex[:8]}"


class Running:
    """A trigger's ``run()`` going on in a task, its events queued as they come."""

    def __init__(self, trigger: BlobChangeTrigger) -> None:
        self.trigger = trigger
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _pump(self) -> None:
        async for event in self.trigger.run():
            await self.events.put(event.payload)

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def quiet(self) -> None:
        """Assert no event comes during several polls."""
        await asyncio.sleep(QUIET)
        assert self.events.empty(), f"unexpected event {self.events.get_nowait()}"
        assert self.task is not None and not self.task.done(), "the trigger ended"


@asynccontextmanager
async def running(trigger: BlobChangeTrigger, client: Any) -> AsyncIterator[Running]:
    """Run ``trigger`` until the block ends (cancelled, as the triggerer cancels a watcher); its baseline
    is recorded before the block starts."""
    runner = Running(trigger)
    runner.task = asyncio.create_task(runner._pump())
    await until(lambda: _exists(client, trigger.state_path), "the baseline state file")
    try:
        yield runner
    finally:
        runner.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner.task


async def until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        await asyncio.sleep(0.05)


def _exists(client: Any, name: str) -> bool:
    return client.get_blob_client(name).exists()


def _seen(client: Any, state_path: str) -> dict[str, str]:
    if not _exists(client, state_path):
        return {}
    return json.loads(client.download_blob(state_path).readall())["seen"]


def put(client: Any, name: str, data: bytes) -> Awaitable[Any]:
    return asyncio.to_thread(client.upload_blob, name, data, overwrite=True)


def make(watched: str | None, datastore: str = DATASTORE, **kwargs: Any) -> BlobChangeTrigger:
    schedule = f"sched-{uuid.uuid4().hex[:8]}"
    return BlobChangeTrigger(
        datastore=datastore,
        state_path=default_state_path(schedule),
        path_on_datastore=watched,
        polling_interval=kwargs.pop("polling_interval", POLL),
        schedule_id=schedule,
        data_path_parameter_name="input_path",
        **kwargs,
    )


def test_a_new_blob_fires_once_and_a_rewrite_once_more(container):
    watched = folder()

    async def body() -> None:
        await put(container, f"{watched}/before.csv", b"there at creation")
        async with running(make(watched), container) as run:
            await run.quiet()  # the baseline fires nothing for what was there

            await put(container, f"{watched}/new.csv", b"a,b\n1,2\n")
            event = await run.next()
            assert event["path"] == f"{watched}/new.csv"
            assert event["datastore"] == DATASTORE
            assert event["change"] == "added"
            assert event["data_path_parameter_name"] == "input_path"
            assert event["tag"] and event["size"] == 8
            await run.quiet()

            await put(container, f"{watched}/new.csv", b"a,b\n3,4\n5,6\n")
            again = await run.next()
            assert (again["path"], again["change"]) == (f"{watched}/new.csv", "modified")
            assert again["tag"] != event["tag"] and again["event_id"] != event["event_id"]
            await run.quiet()

    asyncio.run(body())


def test_sub_folders_and_other_folders_fire_nothing(container):
    watched = folder()

    async def body() -> None:
        async with running(make(watched), container) as run:
            await put(container, f"{watched}/sub/deep.csv", b"x")
            await put(container, f"{watched}-sibling/file.csv", b"x")
            await put(container, "elsewhere/file.csv", b"x")
            await put(container, f"{watched}.csv", b"x")  # same prefix, not in the folder
            await run.quiet()

            await put(container, f"{watched}/direct.csv", b"x")
            assert (await run.next())["path"] == f"{watched}/direct.csv"
            await run.quiet()

    asyncio.run(body())


def test_a_restart_from_the_serialized_kwargs_does_not_fire_again_but_fires_what_changed_meanwhile(container):
    watched = folder()
    trigger = make(watched)
    classpath, kwargs = trigger.serialize()
    assert classpath == "amlflow.triggers.blob_changes.BlobChangeTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs

    async def body() -> None:
        async with running(trigger, container) as run:
            await put(container, f"{watched}/one.csv", b"1")
            first = await run.next()
            await until(lambda: f"{watched}/one.csv" in _seen(container, trigger.state_path), "recorded event")

        await put(container, f"{watched}/two.csv", b"2")  # while no triggerer runs it

        async with running(BlobChangeTrigger(**kwargs), container) as run:
            event = await run.next()
            assert event["path"] == f"{watched}/two.csv"
            await run.quiet()  # one.csv is not fired again
        assert first["path"] == f"{watched}/one.csv"

    asyncio.run(body())


def test_a_triggerer_dying_before_the_state_is_written_fires_the_same_change_again(container):
    """At least once: the seen-state is written a while after the yield, so an event lost with a dying
    triggerer comes again, with the same ``event_id`` for the consumer to drop if it did arrive."""
    watched = folder()
    trigger = make(watched, polling_interval=3.0)
    kwargs = trigger.serialize()[1]

    async def body() -> None:
        async with running(trigger, container) as run:
            await put(container, f"{watched}/late.csv", b"x")
            first = await run.next()  # cancelled at once: the state was not written yet
        assert f"{watched}/late.csv" not in _seen(container, trigger.state_path)

        async with running(BlobChangeTrigger(**{**kwargs, "polling_interval": POLL}), container) as run:
            again = await run.next()
            assert again["event_id"] == first["event_id"]
            await run.quiet()

    asyncio.run(body())


def test_a_blob_written_between_schedule_creation_and_the_watchers_start_fires(container):
    watched = folder()
    trigger = make(watched)

    async def body() -> None:
        await put(container, f"{watched}/old.csv", b"old")
        assert await asyncio.to_thread(record_baseline, DATASTORE, watched, trigger.state_path) == 1
        await put(container, f"{watched}/meanwhile.csv", b"new")
        async with running(trigger, container) as run:
            assert (await run.next())["path"] == f"{watched}/meanwhile.csv"
            await run.quiet()

    asyncio.run(body())


def test_a_deleted_then_rewritten_blob_fires_again(container):
    watched = folder()

    async def body() -> None:
        async with running(make(watched), container) as run:
            await put(container, f"{watched}/a.csv", b"same")
            await run.next()
            await asyncio.to_thread(container.delete_blob, f"{watched}/a.csv")
            await run.quiet()
            await put(container, f"{watched}/a.csv", b"same")
            assert (await run.next())["change"] == "added"

    asyncio.run(body())


def test_the_root_ignores_amlflow_files_and_its_own_state(root_container):
    async def body() -> None:
        trigger = make(None, datastore=ROOT_DATASTORE)
        async with running(trigger, root_container) as run:
            await put(root_container, "amlflow/registry/x.json", b"{}")
            await put(root_container, "amlflow-leases.json", b"{}")
            await put(root_container, "sub/file.csv", b"x")
            await run.quiet()
            await put(root_container, "top.csv", b"x")
            event = await run.next()
            assert (event["path"], event["datastore"]) == ("top.csv", ROOT_DATASTORE)
            await run.quiet()

    asyncio.run(body())


def test_serialize_round_trip_rebuilds_an_equal_trigger():
    trigger = BlobChangeTrigger(
        datastore="blobwatch",
        state_path="/amlflow/schedules/s1/blob-changes.json",
        path_on_datastore="/landing/",
        polling_interval=300,
        schedule_id="s1",
        data_path_parameter_name="input_path",
        created_after="2026-01-01T00:00:00+00:00",
    )
    classpath, kwargs = trigger.serialize()
    rebuilt = BlobChangeTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["path_on_datastore"] == "landing" and kwargs["polling_interval"] == 300.0
    assert BlobChangeTrigger(datastore="d", state_path="s", path_on_datastore="").path_on_datastore is None


def test_an_asset_watcher_accepts_it():
    from airflow.sdk import Asset, AssetWatcher

    trigger = BlobChangeTrigger(datastore="blobwatch", state_path=default_state_path("s1"), path_on_datastore="in")
    asset = Asset(name="amlflow-schedule-s1", watchers=[AssetWatcher(name="s1", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger


def test_bad_kwargs_fail_when_the_dag_file_is_parsed():
    with pytest.raises(ValueError):
        BlobChangeTrigger(datastore="d", state_path="s", polling_interval=0)
    with pytest.raises(ValueError):
        BlobChangeTrigger(datastore="d", state_path="s", created_after="yesterday")
