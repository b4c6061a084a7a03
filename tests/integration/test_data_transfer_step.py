"""DataTransferStep on Azurite and a local datastore: server-side blob copies, streaming, checks, consumers."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap

import pytest

from tests.byte_meter import ByteMeter
from tests.conftest import DAGS
from tests.pipelines import output_location, raw_xcom, run_dag, task_states

DAG_FILE = os.path.join(DAGS, "transfer_pipelines.py")
SCRIPTS = os.path.join(DAGS, "transfer_scripts")
MANY = 60
FILE_SIZE = 256 * 1024

SUMMARIZE_PY = """\
import hashlib, json, os, sys
found = {}
for root, _dirs, names in os.walk(sys.argv[1]):
    for name in names:
        path = os.path.join(root, name)
        found[os.path.relpath(path, sys.argv[1])] = hashlib.md5(open(path, "rb").read()).hexdigest()
os.makedirs(sys.argv[2], exist_ok=True)
json.dump(found, open(os.path.join(sys.argv[2], "summary.json"), "w"))
"""

PIPELINES = """
from amlflow.core import Datastore, Workspace
from amlflow.core.compute import ComputeTarget, DataFactoryCompute
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import DataTransferStep, PythonScriptStep

ws = Workspace()
adf = ComputeTarget.create(ws, "adf", DataFactoryCompute.provisioning_configuration())
src, dst, local = Datastore(ws, "transfer_src"), Datastore(ws, "transfer_dst"), Datastore(ws, "workspaceblobstore")

def transfer(name, source, destination, **types):
    return DataTransferStep(name, source_data_reference=source, destination_data_reference=destination,
                            compute_target=adf, **types)

many = transfer("copy_many", DataReference(src, path_on_datastore="many"),
                DataReference(dst, path_on_datastore="copied/many"))
Pipeline(ws, [many]).publish(name="transfer_blob_to_blob")

consumed = transfer("copy_for_consumer", DataReference(src, path_on_datastore="many"),
                    DataReference(dst, path_on_datastore="consumed/many"))
summary = PipelineData("summary")
summarize = PythonScriptStep("summarize.py", arguments=[consumed.get_output(), summary],
                             inputs=[consumed.get_output()], outputs=[summary], source_directory="transfer_scripts")
Pipeline(ws, [summarize]).publish(name="transfer_then_read")

up = transfer("upload", DataReference(local, path_on_datastore="transfer/local.bin"),
              DataReference(dst, path_on_datastore="from_local"), destination_reference_type="directory")
Pipeline(ws, [up]).publish(name="transfer_local_to_blob")

down = transfer("download", DataReference(src, path_on_datastore="one.csv"),
                DataReference(local, path_on_datastore="from_blob/renamed.csv"), source_reference_type="FILE")
Pipeline(ws, [down]).publish(name="transfer_blob_to_local")

again = transfer("copy_again", DataReference(src, path_on_datastore="again/one.csv"),
                 DataReference(dst, path_on_datastore="again/one.csv"), source_reference_type="file")
Pipeline(ws, [again]).publish(name="transfer_again")

missing = transfer("copy_missing", DataReference(src, path_on_datastore="no/such/prefix"),
                   DataReference(dst, path_on_datastore="never"))
Pipeline(ws, [missing]).publish(name="transfer_missing_source")
"""


def payload(index: int) -> bytes:
    return hashlib.sha256(str(index).encode()).digest() * (FILE_SIZE // 32)


@pytest.fixture(scope="module")
def meter(azurite):
    meter = ByteMeter(azurite.port)
    yield meter
    meter.stop()


@pytest.fixture(scope="module")
def transfer_pipelines(dags_folder, azurite, meter):
    """Two blob datastores (containers of Azurite's account, reached through the byte meter), one local."""
    from amlflow import config
    from amlflow.storage.registry import forget_backends

    metered = azurite.connection_string.replace(f":{azurite.port}/", f":{meter.port}/")
    for name, container in (("TRANSFER_SRC", "transfer-src"), ("TRANSFER_DST", "transfer-dst")):
        fields = {"connection_string": metered, "container_name": container}
        os.environ[f"AIRFLOW_CONN_{name}"] = json.dumps({"conn_type": "wasb", "extra": fields})
        azurite.container(container)
    forget_backends()
    source = azurite.container("transfer-src")
    for index in range(MANY):
        source.upload_blob(f"many/part-{index:03d}.bin", payload(index), overwrite=True)
    source.upload_blob("one.csv", b"id,value\n1,2\n", overwrite=True)
    local = os.path.join(config.local_datastore_root(), "workspaceblobstore", "transfer", "local.bin")
    os.makedirs(os.path.dirname(local), exist_ok=True)
    with open(local, "wb") as handle:
        handle.write(payload(-1) * 8)

    os.makedirs(SCRIPTS, exist_ok=True)
    with open(os.path.join(SCRIPTS, "summarize.py"), "w") as handle:
        handle.write(SUMMARIZE_PY)
    with open(DAG_FILE, "w") as handle:
        handle.write(textwrap.dedent(PIPELINES))
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("transfer_scripts/\n")
    yield DAG_FILE
    for name in ("TRANSFER_SRC", "TRANSFER_DST"):
        os.environ.pop(f"AIRFLOW_CONN_{name}", None)
    forget_backends()


def test_blob_to_blob_is_a_server_side_copy_of_every_file_of_a_prefix(transfer_pipelines, azurite, meter):
    meter.reset()
    run = run_dag(transfer_pipelines, "transfer_blob_to_blob")
    assert task_states(run) == {"copy_many": "success"}
    moved = meter.total
    data = MANY * FILE_SIZE
    # Requests and listings only: far less than one copy of the data passed through the worker.
    assert moved < data / 20, f"{moved} bytes went through the worker for {data} bytes of data"

    copied = azurite.container("transfer-dst")
    names = sorted(b.name for b in copied.list_blobs(name_starts_with="copied/many/"))
    assert names == [f"copied/many/part-{i:03d}.bin" for i in range(MANY)] and len(names) == MANY
    assert copied.download_blob("copied/many/part-007.bin").readall() == payload(7)

    location = output_location(run, "copy_many", "_data_transfer_output")
    assert (location.datastore, location.path) == ("transfer_dst", "copied/many")
    assert location.size == data
    manifest = json.loads(copied.download_blob("copied/many.manifest.json").readall())
    assert len(manifest["files"]) == MANY and manifest["fingerprint"] == location.fingerprint


def test_a_later_step_reads_the_transferred_data(transfer_pipelines):
    run = run_dag(transfer_pipelines, "transfer_then_read")
    assert task_states(run) == {"copy_for_consumer": "success", "summarize.py": "success"}
    from amlflow.storage import get_backend

    summary = output_location(run, "summarize.py", "summary")
    folder = get_backend(summary.datastore).local_path(summary.path)
    with open(os.path.join(folder, "summary.json")) as handle:
        found = json.load(handle)
    assert found == {f"part-{i:03d}.bin": hashlib.md5(payload(i)).hexdigest() for i in range(MANY)}


def test_local_to_blob_streams_the_file_into_the_destination_folder(transfer_pipelines, azurite, meter):
    meter.reset()
    run = run_dag(transfer_pipelines, "transfer_local_to_blob")
    assert task_states(run) == {"upload": "success"}
    blob = azurite.container("transfer-dst").download_blob("from_local/local.bin").readall()
    assert blob == payload(-1) * 8
    assert meter.total >= len(blob)  # the meter sees data that really goes through the worker
    location = output_location(run, "upload", "_data_transfer_output")
    assert (location.datastore, location.path, location.size) == ("transfer_dst", "from_local", len(blob))


def test_blob_to_local_writes_the_file_under_the_destination_name(transfer_pipelines):
    from amlflow import config

    run = run_dag(transfer_pipelines, "transfer_blob_to_local")
    assert task_states(run) == {"download": "success"}
    root = os.path.join(config.local_datastore_root(), "workspaceblobstore")
    with open(os.path.join(root, "from_blob", "renamed.csv"), "rb") as handle:
        assert handle.read() == b"id,value\n1,2\n"
    assert os.path.isfile(os.path.join(root, "from_blob", "renamed.csv.manifest.json"))
    location = output_location(run, "download", "_data_transfer_output")
    assert location.path == "from_blob/renamed.csv"


def test_a_source_that_does_not_exist_fails_naming_it(transfer_pipelines, azurite, capfd):
    run = run_dag(transfer_pipelines, "transfer_missing_source")
    assert task_states(run) == {"copy_missing": "failed"}
    assert output_location(run, "copy_missing", "_data_transfer_output") is None
    assert "nothing at wasbs://transfer-src@devstoreaccount1.blob.core.windows.net/no/such/prefix" in (
        capfd.readouterr().out
    )
    assert not list(azurite.container("transfer-dst").list_blobs(name_starts_with="never"))


def test_blob_to_blob_across_accounts_is_server_side_with_a_read_sas(azurite_factory, monkeypatch):
    """Two storage accounts (one Azurite with both): the copy source is signed, the bytes stay in storage."""
    import base64

    from azure.storage.blob import BlobServiceClient

    from amlflow.storage.blob import BlobBackend

    keys = {name: base64.b64encode(os.urandom(64)).decode() for name in ("srcacct", "dstacct")}
    monkeypatch.setenv("AZURITE_ACCOUNTS", ";".join(f"{name}:{key}" for name, key in keys.items()))
    service = azurite_factory()
    meter = ByteMeter(service.port)

    def backend(account: str, port: int) -> BlobBackend:
        conn = (
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={keys[account]};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{account};"
        )
        container = BlobServiceClient.from_connection_string(conn).get_container_client(f"{account}-data")
        if port == service.port:
            container.create_container()
            return container
        return BlobBackend(account, f"{account}-data", account, lambda: container, secrets=[keys[account]])

    source_container = backend("srcacct", service.port)
    backend("dstacct", service.port)
    for index in range(5):
        source_container.upload_blob(f"data/part-{index}.bin", payload(index))
    source, dest = backend("srcacct", meter.port), backend("dstacct", meter.port)
    try:
        assert dest.copy_from(source, "data", "copied") == 5
        moved = meter.total
    finally:
        meter.stop()
    assert moved < 5 * FILE_SIZE / 10, f"{moved} bytes went through the worker"
    assert dest.read_bytes("copied/part-3.bin") == payload(3)
    assert {f.size for f in dest.list_files("copied")} == {FILE_SIZE}


def test_an_unchanged_copy_is_reused_and_changed_source_data_is_copied_again(transfer_pipelines, azurite):
    from amlflow.runtime.reuse import REUSE_XCOM_KEY

    source, copied = azurite.container("transfer-src"), azurite.container("transfer-dst")
    source.upload_blob("again/one.csv", b"id\n1\n", overwrite=True)
    first = run_dag(transfer_pipelines, "transfer_again")
    tag = copied.get_blob_client("again/one.csv").get_blob_properties().etag
    again = run_dag(transfer_pipelines, "transfer_again")
    assert task_states(again) == {"copy_again": "success"}
    reused = json.loads(raw_xcom(again, "copy_again", REUSE_XCOM_KEY))
    assert reused["reused_run_id"] == first.run_id
    assert copied.get_blob_client("again/one.csv").get_blob_properties().etag == tag  # nothing was copied

    source.upload_blob("again/one.csv", b"id\n2\n", overwrite=True)
    changed = run_dag(transfer_pipelines, "transfer_again")
    assert raw_xcom(changed, "copy_again", REUSE_XCOM_KEY) is None
    assert copied.download_blob("again/one.csv").readall() == b"id\n2\n"
    assert output_location(changed, "copy_again", "_data_transfer_output") is not None
