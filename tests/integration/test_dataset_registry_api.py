"""The dataset registry from a notebook, through the api-server: no access to the datastore it lives in needed.

The notebook machine here sees none of the deployment's storage (its local datastore root is an empty
folder of its own), so every registration and look-up it makes can only have gone through
``/amlflow/dataset/v1.0``; the records appear in the deployment's default datastore, and Airflow's
authorization decides who may register.
"""

from __future__ import annotations

import json
import os

import pytest

from amlflow.core import Dataset, Datastore, Workspace
from amlflow.data import FileDataset
from amlflow.exceptions import ErrorResponseException, UserErrorException
from tests.fixtures.airflow_stack import PASSWORDS

pytestmark = pytest.mark.integration


def _workspace(stack, folder, user: str, patch) -> Workspace:
    (folder / ".azureml").mkdir()
    config = {"workspace_name": "ws", "api_url": stack.url, "username": user}
    (folder / ".azureml" / "config.json").write_text(json.dumps(config))
    patch.setenv("AMLFLOW_PASSWORD", PASSWORDS[user])
    return Workspace.from_config(path=str(folder))


@pytest.fixture(scope="module")
def notebook(airflow_stack, tmp_path_factory):
    """An admin's and a viewer's workspace on a machine that reaches no datastore of the deployment."""
    from amlflow.storage.registry import forget_backends

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path_factory.mktemp("nothing_here")))
        forget_backends()
        admin = _workspace(airflow_stack, tmp_path_factory.mktemp("admin"), "admin", patch)
        yield admin, airflow_stack
    forget_backends()


def test_registrations_and_their_versions_go_through_the_api_server(notebook):
    ws, stack = notebook
    store = Datastore(ws, "workspaceblobstore")
    first = Dataset.File.from_files((store, "registry-api/a.csv"), validate=False)
    second = Dataset.File.from_files((store, "registry-api/b.csv"), validate=False)
    one = first.register(ws, "api_registered")
    assert (one.name, one.version) == ("api_registered", 1)
    with pytest.raises(UserErrorException, match='There is already a dataset registered under name "api_registered"'):
        second.register(ws, "api_registered")
    two = second.register(ws, "api_registered", description="b", create_new_version=True)
    assert (two.version, two.description) == (2, "b")
    latest = Dataset.get_by_name(ws, "api_registered")
    assert isinstance(latest, FileDataset) and latest.version == 2 and latest.definition == second.definition
    assert Dataset.get_by_name(ws, "api_registered", version=1).definition == first.definition
    assert Dataset.get_by_id(ws, one.id).name == "api_registered"
    assert ws.datasets["api_registered"].version == 2
    records = os.path.join(stack.datastore_root, "workspaceblobstore", "amlflow-datasets", "by-name", "api_registered")
    assert sorted(os.listdir(records)) == ["1.json", "2.json"]


def test_a_look_up_of_what_is_not_there_is_azure_mls_error(notebook):
    ws, _ = notebook
    with pytest.raises(UserErrorException, match='Cannot find dataset registered with name "no_such_set"'):
        Dataset.get_by_name(ws, "no_such_set")
    with pytest.raises(UserErrorException, match="Cannot find dataset with id"):
        Dataset.get_by_id(ws, "00000000-0000-0000-0000-000000000000")


def test_a_viewer_may_look_up_but_not_register(notebook, tmp_path, monkeypatch):
    ws, stack = notebook
    viewer = _workspace(stack, tmp_path, "viewer", monkeypatch)
    dataset = Dataset.File.from_files((Datastore(ws, "workspaceblobstore"), "registry-api/c.csv"), validate=False)
    with pytest.raises(ErrorResponseException) as refused:
        dataset.register(viewer, "viewer_registered")
    assert refused.value.status_code == 403
    assert "viewer_registered" not in Dataset.get_all(viewer)


def test_a_dataset_of_a_machines_local_files_can_not_be_saved(notebook):
    ws, _ = notebook
    from amlflow.client import client_for

    with pytest.raises(UserErrorException, match="may not read local files of a machine"):
        client_for(ws).save_dataset({"type": "File", "sources": [{"local": "/etc/passwd"}], "transforms": []})
