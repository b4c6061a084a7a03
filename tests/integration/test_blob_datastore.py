"""An Azure Blob container as a datastore, on Azurite: registration, uploads, listings, overwrite rules."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from amlflow.core import Datastore, Workspace
from amlflow.exceptions import DatastoreError, UserErrorException
from amlflow.storage import get_backend
from amlflow.storage.registry import forget_backends
from tests.fixtures.azurite import ACCOUNT, ACCOUNT_KEY

CONTAINER = "datastore-tests"


@pytest.fixture
def blobstore(azurite, monkeypatch):
    """Datastore ``blobtests``: a ``wasb`` connection (connection string) to a fresh container prefix."""
    azurite.container(CONTAINER)
    monkeypatch.setenv("AIRFLOW_CONN_BLOBTESTS", azurite.connection_json(CONTAINER))
    forget_backends()
    yield Datastore(Workspace(), "blobtests")
    forget_backends()


def write(folder, rel: str, data: bytes) -> str:
    path = os.path.join(folder, *rel.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def test_upload_files_keeps_paths_relative_to_the_common_folder_and_lists_sizes_and_md5(blobstore, tmp_path, azurite):
    files = [write(tmp_path, "a/one.csv", b"x,y\n1,2\n"), write(tmp_path, "a/sub/two.csv", b"x\n")]
    ref = blobstore.upload_files(files, target_path="upload_files_case")
    assert ref.path_on_datastore == "upload_files_case"
    listed = blobstore.backend.list_files("upload_files_case")
    assert [(f.path, f.size) for f in listed] == [
        ("upload_files_case/one.csv", 8),
        ("upload_files_case/sub/two.csv", 2),
    ]
    assert listed[0].tag == "md5:" + hashlib.md5(b"x,y\n1,2\n").hexdigest()
    plain = azurite.container(CONTAINER).download_blob("upload_files_case/sub/two.csv").readall()
    assert plain == b"x\n"


def test_listing_is_by_folder_not_by_string_prefix(blobstore):
    backend = blobstore.backend
    for name in ("folder_case/data/a.txt", "folder_case/data2/b.txt", "folder_case/data"):
        backend.write_bytes(name, b"1")
    assert [f.path for f in backend.list_files("folder_case/data")] == [
        "folder_case/data",
        "folder_case/data/a.txt",
    ]
    assert backend.exists("folder_case/data2") and not backend.exists("folder_case/dat")


def test_overwrite_false_keeps_existing_blobs_and_true_replaces_them(blobstore, tmp_path, caplog):
    first = write(tmp_path / "v1", "keep/data.txt", b"version 1")
    blobstore.upload_files([first], relative_root=str(tmp_path / "v1"), target_path="overwrite_case")
    second = write(tmp_path / "v2", "keep/data.txt", b"version 2")
    blobstore.upload_files([second], relative_root=str(tmp_path / "v2"), target_path="overwrite_case")
    assert blobstore.backend.read_bytes("overwrite_case/keep/data.txt") == b"version 1"
    assert "overwrite_case/keep/data.txt exists, not overwritten" in caplog.text
    blobstore.upload_files([second], relative_root=str(tmp_path / "v2"), target_path="overwrite_case", overwrite=True)
    assert blobstore.backend.read_bytes("overwrite_case/keep/data.txt") == b"version 2"


def test_upload_and_download_of_a_folder_of_many_files_round_trip(blobstore, tmp_path):
    src = tmp_path / "many"
    expected = {f"part-{i:04d}.txt": f"row {i}\n".encode() * (i % 7 + 1) for i in range(150)}
    for rel, data in expected.items():
        write(src, f"{'odd' if int(rel[5:9]) % 2 else 'even'}/{rel}", data)
    blobstore.upload(str(src), target_path="many_case")
    assert len(blobstore.backend.list_files("many_case")) == 150
    target = tmp_path / "back"
    # Azure ML's download recreates each blob's full path under target_path.
    assert blobstore.download(str(target), prefix="many_case") == 150
    back = {
        name: (target / "many_case" / sub / name).read_bytes()
        for sub in ("odd", "even")
        for name in os.listdir(target / "many_case" / sub)
    }
    assert back == expected
    # overwrite=False: files already there are skipped, not downloaded again
    assert blobstore.download(str(target), prefix="many_case") == 0


def test_materialize_downloads_a_single_blob_or_a_prefix(blobstore, tmp_path):
    backend = blobstore.backend
    backend.write_bytes("mat_case/dir/a.bin", b"a" * 10)
    backend.write_bytes("mat_case/dir/b/c.bin", b"c" * 20)
    single = backend.materialize("mat_case/dir/a.bin", str(tmp_path / "single"))
    with open(single, "rb") as handle:
        assert handle.read() == b"a" * 10
    folder = backend.materialize("mat_case/dir", str(tmp_path / "folder"))
    assert sorted(os.listdir(folder)) == ["a.bin", "b"]
    assert (tmp_path / "folder" / "b" / "c.bin").read_bytes() == b"c" * 20


def test_large_file_is_chunked_and_round_trips(blobstore, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__AMLFLOW__TRANSFER_CONCURRENCY", "4")
    data = os.urandom(9 * 1024 * 1024 + 17)
    source = write(tmp_path, "big.bin", data)
    blobstore.backend.upload_file(source, "big_case/big.bin")
    blobstore.backend.download_file("big_case/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data


def test_output_commit_writes_the_manifest_last_and_replaces_an_earlier_try(blobstore):
    backend = blobstore.backend
    first = backend.stage_output("commit_case/out")
    write(first.local_dir, "stale.txt", b"from try 1")
    first.commit()
    second = backend.stage_output("commit_case/out")
    write(second.local_dir, "fresh/data.txt", b"from try 2")
    manifest = second.commit()
    assert [f.path for f in backend.list_files("commit_case/out")] == ["commit_case/out/fresh/data.txt"]
    assert backend.read_manifest("commit_case/out").fingerprint == manifest.fingerprint
    assert not os.path.exists(second.local_dir)


def test_server_side_copy_between_blob_datastores(blobstore, azurite, monkeypatch):
    azurite.container("copy-target")
    monkeypatch.setenv("AIRFLOW_CONN_COPYTARGET", azurite.connection_json("copy-target"))
    blobstore.backend.write_bytes("copy_case/src/x.txt", b"x")
    blobstore.backend.write_bytes("copy_case/src/y/z.txt", b"z")
    target = get_backend("copytarget")
    assert target.copy_from(blobstore.backend, "copy_case/src", "copied") == 2
    assert target.read_bytes("copied/y/z.txt") == b"z"


def test_a_missing_container_fails_naming_datastore_and_container(azurite, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NOCONTAINER", azurite.connection_json("no-such-container"))
    forget_backends()
    with pytest.raises(DatastoreError) as raised:
        get_backend("nocontainer").read_bytes("some/file.txt")
    message = str(raised.value)
    assert "'nocontainer'" in message and "'no-such-container'" in message and "'some/file.txt'" in message
    assert ACCOUNT_KEY not in message


def test_connection_without_container_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HALFBLOB", json.dumps({"conn_type": "wasb", "login": "acct"}))
    forget_backends()
    with pytest.raises(DatastoreError, match=r"datastore 'halfblob'.*no 'container_name'"):
        get_backend("halfblob")


def test_register_azure_blob_container_writes_a_connection_and_creates_the_container(airflow_db, azurite):
    from airflow.models import Connection
    from airflow.utils.session import create_session

    ws = Workspace()
    ds = Datastore.register_azure_blob_container(
        ws,
        datastore_name="registered_blob",
        container_name="registered-container",
        account_name=ACCOUNT,
        account_key=ACCOUNT_KEY,
        endpoint=azurite.endpoint,
        create_if_not_exists=True,
    )
    assert ds.name == "registered_blob" and ds.datastore_type == "AzureBlob"
    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == "registered_blob").one()
        assert (conn.conn_type, conn.login, conn.host) == ("wasb", ACCOUNT, azurite.endpoint)
        assert conn.extra_dejson == {"container_name": "registered-container"}
    ds.backend.write_bytes("hello.txt", b"hi")
    assert azurite.container("registered-container").download_blob("hello.txt").readall() == b"hi"
    assert ds.backend.uri("hello.txt") == f"wasbs://registered-container@{ACCOUNT}.blob.core.windows.net/hello.txt"

    ws.set_default_datastore("registered_blob")
    assert Datastore(ws).name == "registered_blob"

    # the same settings again: nothing to do; other settings: refused unless overwrite=True
    Datastore.register_azure_blob_container(
        ws, "registered_blob", "registered-container", ACCOUNT, account_key=ACCOUNT_KEY, endpoint=azurite.endpoint
    )
    with pytest.raises(UserErrorException, match=r"'registered_blob' is already registered.*overwrite=True"):
        Datastore.register_azure_blob_container(
            ws, "registered_blob", "other-container", ACCOUNT, account_key=ACCOUNT_KEY, endpoint=azurite.endpoint
        )
    Datastore.register_azure_blob_container(
        ws,
        "registered_blob",
        "other-container",
        ACCOUNT,
        account_key=ACCOUNT_KEY,
        endpoint=azurite.endpoint,
        overwrite=True,
        create_if_not_exists=True,
    )
    assert get_backend("registered_blob").container == "other-container"


def test_register_validates_the_credentials_unless_told_not_to(airflow_db, azurite):
    ws = Workspace()
    wrong_key = "d3Jvbmcta2V5LW5vdC10aGUtYWNjb3VudC1rZXktYXQtYWxsLXJlYWxseQ=="
    with pytest.raises(DatastoreError) as raised:
        Datastore.register_azure_blob_container(
            ws, "badkey_blob", "registered-container", ACCOUNT, account_key=wrong_key, endpoint=azurite.endpoint
        )
    assert "'badkey_blob'" in str(raised.value) and "'registered-container'" in str(raised.value)
    assert wrong_key not in str(raised.value)
    Datastore.register_azure_blob_container(
        ws,
        "badkey_blob",
        "registered-container",
        ACCOUNT,
        account_key=wrong_key,
        endpoint=azurite.endpoint,
        overwrite=True,
        skip_validation=True,
    )


def test_messages_are_scrubbed_of_the_connection_secrets_and_sas_signatures():
    from amlflow.storage.blob import BlobBackend, connection_secrets

    class Conn:
        password = None
        extra_dejson = {"connection_string": f"AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};", "sas_token": "sv=1"}

    secrets = connection_secrets(Conn())
    assert ACCOUNT_KEY in secrets
    backend = BlobBackend("scrubbed", "c", ACCOUNT, lambda: None, secrets)
    text = f"GET http://h/c/b?sv=2&sig=s1gn%3D&x=1 with key {ACCOUNT_KEY}"
    assert backend.scrub(text) == "GET http://h/c/b?sv=2&sig=***&x=1 with key ***"


def test_register_with_a_sas_token_keeps_it_in_the_connection_extra_only(airflow_db, azurite, tmp_path):
    from airflow.models import Connection
    from airflow.utils.session import create_session

    sas = azurite.account_sas()
    azurite.container("sas-registered")
    ds = Datastore.register_azure_blob_container(
        Workspace(), "sas_registered", "sas-registered", ACCOUNT, sas_token=sas, endpoint=azurite.endpoint
    )
    ds.upload_files([write(tmp_path, "x.txt", b"via sas")], target_path="in")
    assert azurite.container("sas-registered").download_blob("in/x.txt").readall() == b"via sas"
    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == "sas_registered").one()
        assert conn.password is None and conn.extra_dejson["sas_token"] == sas
    assert sas not in ds.backend.uri("in/x.txt")
