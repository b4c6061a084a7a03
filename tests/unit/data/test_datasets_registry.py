"""The dataset registry in the default datastore: save, register, versions, look-ups, Azure ML's errors,
and exclusive version files under concurrent registrations."""

from __future__ import annotations

import json
import re
import threading

import pytest

from amlflow.core import Dataset, Datastore, Workspace
from amlflow.data import FileDataset, TabularDataset
from amlflow.data.abstract_dataset import AbstractDataset
from amlflow.data.dataset_definition import definition_id
from amlflow.data.dataset_registry import BY_ID, BY_NAME
from amlflow.exceptions import UserErrorException
from amlflow.storage import get_backend


@pytest.fixture
def ws(local_root, tmp_path) -> Workspace:
    data = tmp_path / "stores" / "workspaceblobstore" / "data"
    data.mkdir(parents=True)
    (data / "a.csv").write_text("x\n1\n")
    (data / "b.csv").write_text("x\n2\n")
    return Workspace()


@pytest.fixture
def store(ws) -> Datastore:
    return Datastore(ws, "workspaceblobstore")


def test_saving_is_idempotent_and_the_id_is_a_uuid5_of_the_definition(store, ws):
    ds = Dataset.File.from_files((store, "data"))
    assert ds.id is None
    saved_id = ds._ensure_saved(ws)
    assert saved_id == definition_id(ds.definition) == ds.id
    assert Dataset.File.from_files((store, "data"))._ensure_saved(ws) == saved_id
    backend = get_backend("workspaceblobstore")
    assert json.loads(backend.read_bytes(f"{BY_ID}/{saved_id}.json")) == ds.definition
    found = Dataset.get_by_id(ws, saved_id)
    assert isinstance(found, FileDataset) and found.definition == ds.definition and found.name is None


def test_register_versions_and_get_by_name(store, ws):
    first = Dataset.File.from_files((store, "data/a.csv"))
    second = Dataset.File.from_files((store, "data/b.csv"))
    one = first.register(ws, "raw", description="the a file", tags={"k": "v"})
    assert (one.name, one.version, one.description, one.tags) == ("raw", 1, "the a file", {"k": "v"})
    assert first.name is None  # register returns the registered dataset; the original stays as it was
    with pytest.raises(UserErrorException, match='There is already a dataset registered under name "raw"'):
        second.register(ws, "raw")
    assert first.register(ws, "raw").version == 1  # the same definition: the existing registration
    two = second.register(ws, "raw", create_new_version=True)
    assert two.version == 2 and two.id == definition_id(second.definition)
    assert Dataset.get_by_name(ws, "raw").to_path() == ["/b.csv"]
    assert Dataset.get_by_name(ws, "raw", version=1).to_path() == ["/a.csv"]
    assert Dataset.get_by_name(ws, "raw", version="2") == two
    backend = get_backend("workspaceblobstore")
    assert [f.path for f in backend.list_files(f"{BY_NAME}/raw")] == [f"{BY_NAME}/raw/1.json", f"{BY_NAME}/raw/2.json"]
    assert Dataset.get_by_id(ws, one.id).version == 1
    assert '"name": "raw"' in repr(two) and '"version": 2' in repr(two)


def test_look_up_errors_are_azure_mls(store, ws):
    Dataset.File.from_files((store, "data")).register(ws, "known")
    with pytest.raises(
        UserErrorException, match=re.escape('Cannot find dataset registered with name "nope" in the workspace.')
    ):
        Dataset.get_by_name(ws, "nope")
    with pytest.raises(UserErrorException, match=r'name "known" \(version: 5\) in the workspace.'):
        Dataset.get_by_name(ws, "known", version=5)
    with pytest.raises(
        UserErrorException, match=re.escape('Invalid value x for version. Version value must be number or "latest".')
    ):
        Dataset.get_by_name(ws, "known", version="x")
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(UserErrorException, match=f'Cannot find dataset with id "{missing}" in the workspace.'):
        Dataset.get_by_id(ws, missing)
    with pytest.raises(UserErrorException, match="Dataset name 'a/b' may not"):
        Dataset.File.from_files((store, "data")).register(ws, "a/b")


def test_get_all_and_workspace_datasets_give_each_names_latest(store, ws):
    Dataset.File.from_files((store, "data/a.csv")).register(ws, "files")
    Dataset.File.from_files((store, "data/b.csv")).register(ws, "files", create_new_version=True)
    Dataset.Tabular.from_delimited_files((store, "data")).register(ws, "table")
    everything = Dataset.get_all(ws)
    assert sorted(everything) == ["files", "table"]
    assert everything["files"].version == 2 and isinstance(everything["table"], TabularDataset)
    assert everything["table"].to_pandas_dataframe()["x"].tolist() == [1, 2]
    assert {name: d.version for name, d in ws.datasets.items()} == {"files": 2, "table": 1}
    assert AbstractDataset.get_all(ws) == everything


def test_concurrent_registrations_never_share_a_version(store, ws):
    datasets = [Dataset.File.from_files((store, "data")).take(n) for n in range(1, 9)]
    versions: list[int] = []
    barrier = threading.Barrier(len(datasets))

    def register(ds):
        barrier.wait()
        versions.append(ds.register(ws, "busy", create_new_version=True).version)

    threads = [threading.Thread(target=register, args=(ds,)) for ds in datasets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == list(range(1, 9))


def test_create_exclusive_writes_only_once(ws, tmp_path):
    backend = get_backend("workspaceblobstore")
    assert backend.create_exclusive("x/once.json", b"first") is True
    assert backend.create_exclusive("x/once.json", b"second") is False
    assert backend.read_bytes("x/once.json") == b"first"
    assert [f.path for f in backend.list_files("x")] == ["x/once.json"]  # no temporary file left behind


def test_as_named_input_of_a_registered_dataset_is_named_after_its_id(store, ws):
    registered = Dataset.File.from_files((store, "data")).register(ws, "inputs")
    config = registered.as_mount()
    assert config.name == f"input_{registered.id.split('-')[0]}"
    from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig

    by_tuple = DatasetConsumptionConfig("x", (ws, "inputs", 1))
    assert by_tuple.dataset == registered


def test_a_version_taken_meanwhile_is_never_overwritten(store, ws, monkeypatch):
    from amlflow.data import dataset_registry

    first = Dataset.File.from_files((store, "data/a.csv")).register(ws, "race")
    # As if another registration took version 1 after this one listed the versions (it saw none).
    with monkeypatch.context() as patched:
        patched.setattr(dataset_registry, "_versions", lambda name: [])
        with pytest.raises(UserErrorException, match='There is already a dataset registered under name "race"'):
            Dataset.File.from_files((store, "data/b.csv")).register(ws, "race")
        assert Dataset.File.from_files((store, "data/a.csv")).register(ws, "race").version == 1  # that one is it
        late = Dataset.File.from_files((store, "data/b.csv")).register(ws, "race", create_new_version=True)
    assert late.version == 2
    assert Dataset.get_by_name(ws, "race", version=1) == first
    assert Dataset.get_by_name(ws, "race").to_path() == ["/b.csv"]
