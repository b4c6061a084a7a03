"""Datastore upload_files / upload / download on the embedded local datastore, with Azure ML's rules."""

from __future__ import annotations

import pytest

from amlflow.core import Datastore, Workspace


@pytest.fixture
def store(monkeypatch, tmp_path) -> Datastore:
    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path / "stores"))
    from amlflow.storage.registry import forget_backends

    forget_backends()
    yield Datastore(Workspace(), "workspaceblobstore")
    forget_backends()


@pytest.fixture
def files(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("a")
    (src / "sub" / "b.csv").write_text("b")
    return src


def test_upload_files_keeps_paths_relative_to_their_common_folder(store, files, tmp_path):
    ref = store.upload_files([str(files / "a.csv"), str(files / "sub" / "b.csv")], target_path="data")
    assert ref.path_on_datastore == "data" and ref.datastore == store
    assert [f.path for f in store.backend.list_files("data")] == ["data/a.csv", "data/sub/b.csv"]
    assert (tmp_path / "stores" / "workspaceblobstore" / "data" / "sub" / "b.csv").read_text() == "b"


def test_upload_does_not_overwrite_unless_asked(store, files):
    store.upload(str(files), target_path="d")
    (files / "a.csv").write_text("changed")
    store.upload(str(files), target_path="d")
    assert store.backend.read_bytes("d/a.csv") == b"a"
    store.upload(str(files), target_path="d", overwrite=True)
    assert store.backend.read_bytes("d/a.csv") == b"changed"


def test_download_recreates_datastore_paths_and_skips_existing_files(store, files, tmp_path):
    store.upload(str(files), target_path="d")
    target = tmp_path / "out"
    assert store.download(str(target), prefix="d") == 2
    assert (target / "d" / "sub" / "b.csv").read_text() == "b"
    (target / "d" / "a.csv").write_text("local edit")
    assert store.download(str(target), prefix="d") == 0
    assert (target / "d" / "a.csv").read_text() == "local edit"
    assert store.download(str(target), prefix="d", overwrite=True) == 2
    assert (target / "d" / "a.csv").read_text() == "a"


def test_paths_cannot_leave_the_datastore(store):
    with pytest.raises(ValueError, match="leaves the datastore"):
        store.backend.read_bytes("../../etc/passwd")


def test_a_symbolic_link_out_of_the_datastore_is_refused(store, tmp_path):
    root = tmp_path / "stores" / "workspaceblobstore"
    root.mkdir(parents=True)
    (root / "etc").symlink_to("/etc")
    with pytest.raises(ValueError, match="leaves the datastore"):
        store.backend.read_bytes("etc/passwd")
    with pytest.raises(ValueError, match="leaves the datastore"):
        store.backend.list_files("etc")


@pytest.mark.parametrize("name", ["/etc", "../../../../etc", "a/b", "..", "", "x.y"])
def test_a_datastore_name_is_never_a_path(store, name):
    from amlflow.exceptions import DatastoreError
    from amlflow.storage import get_backend

    with pytest.raises(DatastoreError, match="is not a datastore name"):
        get_backend(name)


def test_a_pipeline_on_a_datastore_named_like_a_path_does_not_validate(tmp_path):
    from amlflow.data.data_reference import DataReference
    from amlflow.exceptions import UserErrorException
    from amlflow.pipeline.core import Pipeline, dag_file
    from amlflow.pipeline.steps import PythonScriptStep

    (tmp_path / "s.py").write_text("")
    ws = Workspace()
    with pytest.raises(UserErrorException, match=r"'\.\./etc' is not a datastore name"):  # in a notebook: at once
        Datastore(ws, "../etc")
    with dag_file():  # in a DAG file nothing is checked while it is parsed; validation names the step and field
        raw = DataReference(Datastore(ws, "../etc"), data_reference_name="raw", path_on_datastore="passwd")
    step = PythonScriptStep("s.py", inputs=[raw], source_directory=str(tmp_path))
    assert Pipeline(ws, [step]).validate() == [
        "step 's.py', field 'inputs': datastore '../etc' is not a datastore name: use 1-255 letters, digits, "
        "'_' or '-' (a datastore is a name, never a path)"
    ]


@pytest.mark.parametrize(
    ("fallback", "executor", "local"),
    [
        ("auto", "LocalExecutor", True),
        ("auto", "CeleryExecutor", False),
        ("auto", "LocalExecutor,airflow.providers.celery.executors.celery_executor.CeleryExecutor", False),
        ("auto", "my_local:airflow.executors.local_executor.LocalExecutor", True),
        ("true", "CeleryExecutor", True),
        ("false", "LocalExecutor", False),
    ],
)
def test_a_name_without_a_connection_is_a_local_folder_only_where_tasks_share_a_disk(
    store, monkeypatch, fallback, executor, local
):
    from amlflow.exceptions import DatastoreError
    from amlflow.storage import get_backend
    from amlflow.storage.registry import forget_backends, lookup

    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_FALLBACK", fallback)
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    forget_backends()
    if local:
        assert get_backend("workspaceblobstore").kind == "local"
        assert lookup("workspaceblobstore") == ("workspaceblobstore", "Local")
        return
    with pytest.raises(DatastoreError) as refused:
        get_backend("workspaceblobstore")
    message = str(refused.value)
    assert "datastore 'workspaceblobstore' has no Airflow connection" in message
    assert "[amlflow] local_datastore_fallback is off" in message and repr(executor) in message
    assert "Create the connection 'workspaceblobstore'" in message
    assert lookup("workspaceblobstore") is None


def test_a_connection_is_used_whatever_the_fallback(store, monkeypatch, tmp_path):
    import json

    from amlflow.storage import get_backend
    from amlflow.storage.registry import forget_backends

    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_FALLBACK", "false")
    folder = tmp_path / "shared"
    monkeypatch.setenv(
        "AIRFLOW_CONN_WORKSPACEBLOBSTORE", json.dumps({"conn_type": "fs", "extra": {"path": str(folder)}})
    )
    forget_backends()
    get_backend("workspaceblobstore").write_bytes("a.txt", b"a")
    assert (folder / "a.txt").read_bytes() == b"a"


def test_an_unknown_fallback_setting_is_refused_naming_it(store, monkeypatch):
    from amlflow.exceptions import DatastoreError
    from amlflow.storage import get_backend
    from amlflow.storage.registry import forget_backends

    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_FALLBACK", "sometimes")
    forget_backends()
    with pytest.raises(DatastoreError, match=r"local_datastore_fallback is 'sometimes': use auto, true or false"):
        get_backend("workspaceblobstore")
