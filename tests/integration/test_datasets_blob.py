"""Datasets on an Azure Blob datastore (Azurite): globs, downloads, tables, localized copies, and the
dataset registry kept in a blob default datastore with exclusive version blobs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from amlflow.core import Dataset, Datastore, Workspace
from amlflow.data.abstract_dataset import dataset_from_definition
from amlflow.data.dataset_error_handling import DatasetValidationError
from amlflow.storage import get_backend
from amlflow.storage.registry import forget_backends

CONTAINER = "dataset-tests"


@pytest.fixture
def blob_ws(azurite, monkeypatch, tmp_path):
    """Datastore ``dsblob`` on Azurite, also the default datastore (so the registry lives in blobs)."""
    container = azurite.container(CONTAINER)
    for blob in container.list_blobs():
        container.delete_blob(blob.name)
    monkeypatch.setenv("AIRFLOW_CONN_DSBLOB", azurite.connection_json(CONTAINER))
    monkeypatch.setenv("AIRFLOW__AMLFLOW__DEFAULT_DATASTORE", "dsblob")
    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path / "stores"))
    forget_backends()
    for name, data in {
        "sales/2019/jan.csv": b"id,amount\n1,10\n2,20\n",
        "sales/2020/feb.csv": b"id,amount\n3,30\n",
        "sales/readme.txt": b"not a table",
    }.items():
        container.upload_blob(name, data)
    yield Workspace()
    forget_backends()


def test_blob_globs_download_and_tables(blob_ws, tmp_path):
    store = Datastore(blob_ws, "dsblob")
    files = Dataset.File.from_files((store, "sales/*/*.csv"))
    assert files.to_path() == ["/2019/jan.csv", "/2020/feb.csv"]
    paths = files.download(str(tmp_path / "dl"))
    assert Path(paths[1]).read_bytes() == b"id,amount\n3,30\n"
    table = Dataset.Tabular.from_delimited_files((store, "sales/**/*.csv"))
    assert table.to_pandas_dataframe()["amount"].tolist() == [10, 20, 30]
    with pytest.raises(DatasetValidationError, match="sales/2021"):
        Dataset.File.from_files((store, "sales/2021"))
    local = table.localized(str(tmp_path / "copy"))
    assert dataset_from_definition(local.definition).to_pandas_dataframe()["id"].tolist() == [1, 2, 3]


def test_registry_in_a_blob_default_datastore(blob_ws):
    store = Datastore(blob_ws, "dsblob")
    datasets = [Dataset.File.from_files((store, "sales")).take(n) for n in range(1, 6)]
    taken: dict[int, dict] = {}
    barrier = threading.Barrier(len(datasets))

    def register(ds):
        barrier.wait()
        taken[ds.register(blob_ws, "sales", create_new_version=True).version] = ds.definition

    threads = [threading.Thread(target=register, args=(ds,)) for ds in datasets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == [1, 2, 3, 4, 5]
    for version, definition in taken.items():
        assert Dataset.get_by_name(blob_ws, "sales", version=version).definition == definition
    latest = Dataset.get_by_name(blob_ws, "sales")
    assert latest.version == 5 and latest.definition == taken[5]
    backend = get_backend("dsblob")
    assert backend.create_exclusive("amlflow-datasets/by-name/sales/1.json", b"{}") is False
    assert Dataset.get_by_name(blob_ws, "sales", version=1).definition == taken[1]
