"""A DatabricksStep on a blob datastore (Azurite): the job gets ``wasbs://`` URIs, writes its output there,
and the output is committed on blob and read by the next step. Run in-process with ``dag.test`` (the
stack tests cover deferral, kills and timeouts); the double plays a cluster that can reach the storage.
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import urlsplit

import pytest

from amlflow.storage.registry import forget_backends
from tests.conftest import DAGS
from tests.doubles.databricks import Play
from tests.pipelines import output_location, run_dag, task_states

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = "databricks-tests"


@pytest.fixture(scope="module")
def blob_run(dags_folder, databricks_double, azurite):
    container = azurite.container(CONTAINER)
    container.upload_blob("inputs/table.csv", b"name,score\nada,1\nbob,2\n", overwrite=True)

    def upper(task: dict) -> None:
        """The notebook: what a cluster with access to the storage account does with the widget URIs."""
        widgets = task["notebook_task"]["base_parameters"]
        source, target = urlsplit(widgets["table"]), urlsplit(widgets["upper"])
        assert source.scheme == target.scheme == "wasbs" and source.netloc.startswith(f"{CONTAINER}@")
        data = container.download_blob(source.path.lstrip("/")).readall()
        container.upload_blob(f"{target.path.lstrip('/')}/table.csv", data.upper(), overwrite=True)

    databricks_double.play("/Shared/upper", Play(running=1, work=upper))
    os.environ["AIRFLOW_CONN_DBXBLOBSTORE"] = azurite.connection_json(CONTAINER)
    forget_backends()
    shutil.copytree(os.path.join(HERE, "databricks_blob"), os.path.join(DAGS, "databricks_blob"), dirs_exist_ok=True)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("databricks_blob/\n")
    try:
        yield run_dag(shutil.copy(os.path.join(HERE, "databricks_blob.py"), DAGS), "databricks_blob")
    finally:
        os.environ.pop("AIRFLOW_CONN_DBXBLOBSTORE")
        forget_backends()


def test_a_blob_datastore_reaches_the_job_as_wasbs_uris_and_its_output_is_committed_on_blob(
    blob_run, databricks_double, azurite
):
    assert task_states(blob_run) == {"upper": "success", "count.py": "success"}
    upper = output_location(blob_run, "upper", "upper")
    (body,) = databricks_double.submitted("/Shared/upper")
    assert body["tasks"][0]["notebook_task"]["base_parameters"] == {
        "table": f"wasbs://{CONTAINER}@devstoreaccount1.blob.core.windows.net/inputs/table.csv",
        "upper": upper.uri,
    }
    container = azurite.container(CONTAINER)
    manifest = json.loads(container.download_blob(f"{upper.path}.manifest.json").readall())
    assert [f["path"] for f in manifest["files"]] == ["table.csv"]
    counted = output_location(blob_run, "count.py", "counted")
    report = json.loads(container.download_blob(f"{counted.path}/count.json").readall())
    assert report == {"rows": 2, "header": "NAME,SCORE"}
