"""``Model``: registering files and folders as versions in the default datastore, look-ups and Azure ML's
errors, concurrent registrations, and ``get_model_path`` in a step's working directory (no workspace)."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest

from amlflow.core import Dataset, Datastore, Model, Workspace
from amlflow.core.model import ROOT
from amlflow.exceptions import ModelNotFoundException, UserErrorException, WebserviceException
from amlflow.storage import get_backend


@pytest.fixture
def ws(local_root) -> Workspace:
    return Workspace()


@pytest.fixture
def nb(tmp_path, monkeypatch):
    """The notebook's folder (the current directory): a folder model ``models/`` and a file model."""
    folder = tmp_path / "notebook"
    (folder / "models" / "sub").mkdir(parents=True)
    (folder / "models" / "a.txt").write_text("A")
    (folder / "models" / "sub" / "b.txt").write_text("B")
    (folder / "iris_model.pkl").mkdir()
    (folder / "iris_model.pkl" / "iris_model.pkl").write_bytes(b"pickle-bytes")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def worker(tmp_path, monkeypatch):
    """A step's fresh working directory: no workspace config, and no Airflow API to reach."""
    folder = tmp_path / "worker"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    monkeypatch.delenv("AML_APP_ROOT", raising=False)

    def no_api(*args, **kwargs):
        raise AssertionError("get_model_path reached for the Airflow API")

    monkeypatch.setattr("amlflow.client.client_for", no_api)
    return folder


def stored(path: str) -> str:
    return get_backend("workspaceblobstore").read_bytes(path).decode()


def test_a_folder_model_is_stored_with_its_record(ws, nb):
    model = Model.register(
        model_path="models/",
        model_name="mnist-prs",
        tags={"pretrained": "mnist"},
        description="Mnist trained tensorflow model",
        workspace=ws,
    )
    assert (model.name, model.version, model.id) == ("mnist-prs", 1, "mnist-prs:1")
    assert model.tags == {"pretrained": "mnist"} and model.description == "Mnist trained tensorflow model"
    assert stored(f"{ROOT}/mnist-prs/1/files/models/a.txt") == "A"
    assert stored(f"{ROOT}/mnist-prs/1/files/models/sub/b.txt") == "B"
    record = json.loads(stored(f"{ROOT}/mnist-prs/1/model.json"))
    assert record["id"] == "mnist-prs:1" and record["model_path"] == "models"
    assert record["files"] == ["models/a.txt", "models/sub/b.txt"]
    assert model.url.endswith(f"{ROOT}/mnist-prs/1/files/models") and model.url.startswith("file://")
    assert model.created_time.tzinfo is not None
    again = Model(ws, "mnist-prs")
    assert again == model and again.tags == model.tags and again.workspace is ws


def test_a_single_file_model_and_versions_increment(ws, nb):
    one = Model.register(ws, "iris_model.pkl/iris_model.pkl", "iris-prs", tags={"k": "1"})
    two = Model.register(ws, "iris_model.pkl/iris_model.pkl", "iris-prs", tags={"k": "2"})
    assert (one.version, two.version) == (1, 2)
    assert json.loads(stored(f"{ROOT}/iris-prs/2/model.json"))["model_path"] == "iris_model.pkl"
    assert stored(f"{ROOT}/iris-prs/1/files/iris_model.pkl") == "pickle-bytes"
    assert Model(ws, "iris-prs").version == 2
    assert Model(ws, "iris-prs", version=1).tags == {"k": "1"}
    assert Model(ws, id="iris-prs:1").tags == {"k": "1"}


def test_concurrent_registrations_get_distinct_versions(ws, nb):
    got: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            got.append(Model.register(ws, "models", "raced").version)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and sorted(got) == list(range(1, 9))
    for version in got:
        assert stored(f"{ROOT}/raced/{version}/files/models/sub/b.txt") == "B"


def test_a_taken_version_is_stepped_over(ws, nb, monkeypatch):
    # Another registration claimed version 1 between this one's listing and its claim: this one takes 2.
    from amlflow.core import model as model_module

    backend = get_backend("workspaceblobstore")
    real = model_module._claimed_versions

    def stale(name):
        backend.create_exclusive(f"{ROOT}/{name}/1/claim.json", b"{}")
        return real(name)[:0]

    monkeypatch.setattr(model_module, "_claimed_versions", stale)
    assert Model.register(ws, "models", "late").version == 2
    assert [m.version for m in Model.list(ws, name="late")] == [2]


def test_the_files_are_uploaded_before_the_record_and_a_failed_upload_shows_nothing(ws, nb, monkeypatch):
    backend = get_backend("workspaceblobstore")
    written = backend.write_bytes

    def write_bytes(path, data):
        if path.endswith("/model.json"):
            assert backend.exists(path.replace("model.json", "files/models/a.txt"))
            assert backend.exists(path.replace("model.json", "files/models/sub/b.txt"))
        written(path, data)

    monkeypatch.setattr(backend, "write_bytes", write_bytes)
    assert Model.register(ws, "models", "ordered").version == 1

    uploaded = backend.upload_file

    def failing(local, path):
        if path.endswith("b.txt"):
            raise OSError("network down")
        uploaded(local, path)

    monkeypatch.setattr(backend, "upload_file", failing)
    with pytest.raises(OSError, match="network down"):
        Model.register(ws, "models", "ordered")
    assert [m.version for m in Model.list(ws, name="ordered")] == [1]
    assert Model(ws, "ordered").version == 1
    assert not backend.list_files(f"{ROOT}/ordered/2/files")
    monkeypatch.setattr(backend, "upload_file", uploaded)
    assert Model.register(ws, "models", "ordered").version == 3  # a failed version's number is not reused


def test_get_model_path_in_a_fresh_worker_directory(ws, nb, worker):
    Model.register(ws, str(nb / "models"), "mnist-prs")
    Model.register(ws, str(nb / "iris_model.pkl" / "iris_model.pkl"), "iris-prs")
    assert not os.path.exists(".azureml")
    folder = Model.get_model_path("mnist-prs")
    assert folder == os.path.join("azureml-models", "mnist-prs", "1", "models")
    assert Path(folder, "sub", "b.txt").read_text() == "B"
    file = Model.get_model_path("iris-prs")
    assert file == os.path.join("azureml-models", "iris-prs", "1", "iris_model.pkl")
    assert Path(file).read_bytes() == b"pickle-bytes"
    assert sorted(os.listdir(worker / "azureml-models" / "mnist-prs")) == ["1"]  # no scratch folder left


def test_get_model_path_downloads_once_and_picks_the_version(ws, nb, worker, monkeypatch):
    Model.register(ws, str(nb / "models"), "m")
    (nb / "models" / "a.txt").write_text("A2")
    Model.register(ws, str(nb / "models"), "m")
    backend = get_backend("workspaceblobstore")
    calls: list[str] = []
    download = backend.download_file
    monkeypatch.setattr(backend, "download_file", lambda path, local: (calls.append(path), download(path, local)))
    latest = Model.get_model_path("m")
    assert Path(latest, "a.txt").read_text() == "A2" and "/2/" in latest.replace(os.sep, "/")
    assert Model.get_model_path("m") == latest and len(calls) == 2  # the second call reuses the download
    first = Model.get_model_path("m", version=1)
    assert Path(first, "a.txt").read_text() == "A"
    with pytest.raises(WebserviceException, match="version should be an int"):
        Model.get_model_path("m", version="1")


def test_get_model_path_uses_azureml_model_dir(ws, nb, worker, monkeypatch, tmp_path):
    def no_store(*args, **kwargs):
        raise AssertionError("looked in the datastore")

    several = tmp_path / "several"
    (several / "m" / "3" / "weights").mkdir(parents=True)
    (several / "m" / "7" / "weights").mkdir(parents=True)
    monkeypatch.setattr("amlflow.core.model._backend", no_store)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(several))
    assert Model.get_model_path("m") == str(several / "m" / "7" / "weights")
    assert Model.get_model_path("m", version=3) == str(several / "m" / "3" / "weights")
    one = tmp_path / "one" / "m" / "4"
    one.mkdir(parents=True)
    (one / "model.pkl").write_text("x")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(one))
    assert Model.get_model_path("m") == str(one / "model.pkl")
    with pytest.raises(AssertionError, match="looked in the datastore"):
        Model.get_model_path("other")  # not held there: looked up in the datastore


def test_not_found_errors_are_azure_mls(ws, nb, worker):
    Model.register(ws, str(nb / "models"), "known")
    with pytest.raises(
        WebserviceException,
        match=re.escape("ModelNotFound: Model with name nope not found in provided workspace"),
    ):
        Model(ws, "nope")
    with pytest.raises(WebserviceException, match="Model with name known, version 5 not found"):
        Model(ws, "known", version=5)
    with pytest.raises(WebserviceException, match="Model with id known:9 not found"):
        Model(ws, id="known:9")
    with pytest.raises(WebserviceException, match=re.escape("Error, one of id or name must be provided.")):
        Model(ws)
    with pytest.raises(
        ModelNotFoundException, match=re.escape("Model/Version nope/None not found in workspace. ['known/1']")
    ):
        Model.get_model_path("nope")
    assert issubclass(WebserviceException, UserErrorException)
    # Azure ML's import path is azureml.exceptions; ported code also finds them where Model lives.
    import amlflow.core.model

    assert (amlflow.core.model.WebserviceException, amlflow.core.model.ModelNotFoundException) == (
        WebserviceException,
        ModelNotFoundException,
    )


def test_invalid_name_missing_path_and_framework_version(ws, nb):
    message = (
        "Error, provided model name is invalid. It must only consist of letters, numbers, dashes, periods, "
        "or underscores, start with a letter or number, and be between 1 and 255 characters long."
    )
    for name in ("-x", "a/b", "has space", "x" * 256, ""):
        with pytest.raises(WebserviceException, match=re.escape(message)):
            Model.register(ws, "models", name)
    with pytest.raises(FileNotFoundError, match="Path does not exist"):
        Model.register(ws, "no-such.pkl", "m")
    with pytest.raises(WebserviceException, match="Model framework version cannot be provided without"):
        Model.register(ws, "models", "m", model_framework_version="1.0")
    with pytest.raises(WebserviceException, match="Tags must be a dict"):
        Model.register(ws, "models", "m", tags=["a"])
    assert Model.list(ws) == []  # nothing was registered


def test_child_paths_register_only_those(ws, nb, worker):
    (nb / "models" / "c.txt").write_text("C")
    model = Model.register(ws, str(nb / "models"), "part", child_paths=["sub", "c.txt"])
    assert json.loads(stored(f"{ROOT}/part/1/model.json"))["files"] == ["models/c.txt", "models/sub/b.txt"]
    path = Model.get_model_path("part")
    assert sorted(os.listdir(path)) == ["c.txt", "sub"] and model.version == 1
    with pytest.raises(WebserviceException, match=re.escape('Error, provided child path "zzz" cannot be found')):
        Model.register(ws, str(nb / "models"), "part", child_paths=["zzz"])
    with pytest.raises(WebserviceException, match="is not inside model path"):
        Model.register(ws, str(nb / "models"), "part", child_paths=["../iris_model.pkl"])


def test_list_filters(ws, nb):
    Model.register(ws, "models", "a", tags={"stage": "dev"}, properties={"p": "1"})
    Model.register(ws, "models", "a", tags={"stage": "prod"}, model_framework=Model.Framework.TENSORFLOW)
    Model.register(ws, "models", "b", tags={"stage": "prod", "x": "y"})
    assert [m.id for m in Model.list(ws)] == ["b:1", "a:2", "a:1"]
    assert [m.id for m in Model.list(ws, name="a")] == ["a:2", "a:1"]
    assert [m.id for m in Model.list(ws, tags=[["stage", "prod"]])] == ["b:1", "a:2"]
    assert [m.id for m in Model.list(ws, tags=["x"])] == ["b:1"]
    assert [m.id for m in Model.list(ws, properties=[["p", "1"]])] == ["a:1"]
    assert [m.id for m in Model.list(ws, latest=True)] == ["b:1", "a:2"]
    assert [m.id for m in Model.list(ws, tags=[["stage", "dev"]], latest=True)] == ["a:1"]
    assert [m.id for m in Model.list(ws, model_framework="TensorFlow")] == ["a:2"]
    assert Model(ws, "a", tags=[["stage", "dev"]]).version == 1
    with pytest.raises(UserErrorException, match="Expected tags must be list type"):
        Model.list(ws, tags={"stage": "prod"})
    with pytest.raises(
        UserErrorException, match=re.escape("Expected page_count value is between 20 and 255. Provided: 5")
    ):
        Model.list(ws, page_count=5)


def test_download_and_exist_ok(ws, nb, tmp_path):
    folder = Model.register(ws, "models", "f")
    target = tmp_path / "out"
    assert folder.download(str(target)) == str(target / "models")
    assert (target / "models" / "sub" / "b.txt").read_text() == "B"
    with pytest.raises(
        WebserviceException, match=re.escape("File already exists. To overwrite, set exist_ok to True.")
    ):
        folder.download(str(target))
    (target / "models" / "a.txt").write_text("changed")
    assert folder.download(str(target), exist_ok=True) == str(target / "models")
    assert (target / "models" / "a.txt").read_text() == "A"
    single = Model.register(ws, "iris_model.pkl/iris_model.pkl", "s")
    assert single.download(str(tmp_path / "s")) == str(tmp_path / "s" / "iris_model.pkl")


def test_tags_properties_update_and_delete(ws, nb):
    model = Model.register(ws, "models", "t", tags={"a": "1"}, properties={"p": "1"})
    model.add_tags({"b": "2"})
    model.remove_tags(["a"])
    model.add_properties({"q": "2"})
    model.update(description="new")
    fresh = Model(ws, "t")
    assert fresh.tags == {"b": "2"} and fresh.properties == {"p": "1", "q": "2"} and fresh.description == "new"
    assert model.tags == fresh.tags
    with pytest.raises(WebserviceException, match="properties are immutable, the following keys cannot be"):
        model.add_properties({"p": "3"})
    model.delete()
    with pytest.raises(WebserviceException, match="ModelNotFound"):
        Model(ws, "t")
    assert not get_backend("workspaceblobstore").list_files(f"{ROOT}/t/1/files")
    assert Model.register(ws, "models", "t").version == 2  # a deleted version's number is not reused


def test_metadata_azure_ml_keeps_is_kept_or_refused(ws, nb, local_root):
    store = Datastore(ws, "workspaceblobstore")
    (local_root / "workspaceblobstore" / "data").mkdir()
    (local_root / "workspaceblobstore" / "data" / "x.csv").write_text("x\n1\n")
    data = Dataset.File.from_files((store, "data"))
    model = Model.register(
        ws,
        "models",
        "meta",
        datasets=[("training", data)],
        sample_input_dataset=data,
        resource_configuration={"cpu": 1, "memoryInGB": 0.5, "gpu": 0},
    )
    fresh = Model(ws, "meta")
    assert fresh.resource_configuration == {"cpu": 1, "memoryInGB": 0.5, "gpu": 0}
    assert fresh.datasets["training"][0].id == data._ensure_saved(ws)
    assert fresh.sample_input_dataset.id == data._ensure_saved(ws) and model.sample_output_dataset is None
    assert [m.id for m in Model.list(ws, dataset_id=data._ensure_saved(ws))] == ["meta:1"]
    with pytest.raises(WebserviceException, match="must be of type TabularDataset or FileDataset"):
        Model.register(ws, "models", "meta", sample_output_dataset="a path")
    with pytest.raises(WebserviceException, match="resource_configuration must be a ResourceConfiguration"):
        Model.register(ws, "models", "meta", resource_configuration="big")
    with pytest.raises(UserErrorException, match=re.escape("Model.get_model_path")):
        Model.deploy(ws, "svc", [model])
