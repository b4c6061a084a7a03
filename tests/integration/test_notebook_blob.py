"""The seed's notebook route on a deployment whose datastore and pipeline bundle are Azure Blob (Azurite).

A stack of its own: ``workspaceblobstore`` is a container on Azurite, and the pipeline bundle is
``DatastoreDagBundle``, so the definition and the code travel through blob storage only; no folder is
shared between the notebook, the api-server, the dag-processor and the workers but what the bundle
copies. The notebook machine reaches the datastore as a worker does, through its connection.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import pytest

from scripts.stack import LOCAL_BUNDLE, PIPELINE_BUNDLE, Stack
from tests.fixtures.airflow_stack import PASSWORDS, USERS, AirflowStack, wait_until
from tests.integration import (
    test_notebook_datapath,
    test_notebook_dataset,
    test_notebook_endpoints,
    test_notebook_output_datasets,
    test_notebook_schedules,
)
from tests.integration.test_notebook_submit import notebook_folder, notebook_result, run_notebook, run_notebook_text

pytestmark = pytest.mark.integration

CONTAINER = "notebook-blobstore"
DATASTORE_BUNDLE = "amlflow.bundles.datastore_bundle.DatastoreDagBundle"


@pytest.fixture(scope="module")
def blob_stack(azurite):
    azurite.container(CONTAINER)
    connection = {"AIRFLOW_CONN_WORKSPACEBLOBSTORE": azurite.connection_json(CONTAINER)}
    bundles = [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {"name": PIPELINE_BUNDLE, "classpath": DATASTORE_BUNDLE, "kwargs": {"datastore": "workspaceblobstore"}},
    ]
    config = {"dag_processor": {"dag_bundle_config_list": json.dumps(bundles)}, "amlflow": {"parse_timeout": "60"}}
    home = tempfile.mkdtemp(prefix="amlflow-blob-stack-")
    stack = Stack.prepare(home, users=USERS, passwords=PASSWORDS, extra_env=connection, config=config)
    stack.start()
    try:
        yield AirflowStack(stack), connection
    finally:
        stack.stop(timeout=5)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def seed_on_blob(blob_stack, tmp_path_factory):
    stack, connection = blob_stack
    folder = notebook_folder(tmp_path_factory.mktemp("seed_blob"), stack)
    done = run_notebook(folder, stack, **connection)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder, notebook_result(done.stdout)


def test_the_seed_runs_with_its_definition_and_code_on_blob_only(blob_stack, seed_on_blob, azurite):
    stack, _ = blob_stack
    folder, result = seed_on_blob
    with open(next(os.path.join(r, n) for r, _d, ns in os.walk(os.path.join(folder, "outputs")) for n in ns)) as handle:
        assert json.load(handle)["pipeline_arg"] == 10
    blobs = {blob.name for blob in azurite.container(CONTAINER).list_blobs()}
    assert any(name.startswith("amlflow-bundle/definitions/Compare_Models_Exp.") for name in blobs), sorted(blobs)
    assert any(name.startswith("amlflow-snapshots/") and name.endswith("train.py") for name in blobs)
    assert not os.listdir(stack.stack.pipeline_bundle), "nothing may go through the local bundle folder"
    status, run = stack.request("GET", f"/amlflow/pipelines/v1.0/PipelineRuns/{result['submitted']}")
    assert status == 200 and run["Status"]["StatusCode"] == "Finished"


def test_the_published_endpoint_runs_from_the_blob_bundle(blob_stack, seed_on_blob, azurite):
    stack, _ = blob_stack
    _folder, result = seed_on_blob
    assert result["status"] == 200, result
    run = stack.wait_for_run(result["published"], result["body"]["Id"], timeout=180)
    assert run["state"] == "success", stack.task_states(result["published"], run["dag_run_id"])
    location = stack.xcom(result["published"], run["dag_run_id"], "compare.py", "out_data3")
    assert location["uri"].startswith(f"wasbs://{CONTAINER}@")
    report = azurite.container(CONTAINER).download_blob(f"{location['path']}/report.json").readall()
    assert json.loads(report)["pipeline_arg"] == 20


def test_output_datasets_and_their_registrations_live_on_blob_only(blob_stack, web_files, azurite, tmp_path):
    """The publish-and-run notebook (a URL dataset, three OutputFileDatasetConfigs, register_on_complete)."""
    stack, connection = blob_stack
    notebook = test_notebook_output_datasets.NOTEBOOK.format(base=web_files)
    result = run_notebook_text(stack, tmp_path, notebook, test_notebook_output_datasets.SCRIPTS, **connection)
    assert result["status"] == ["Finished", "Finished"] and result["latest"] == 2
    assert "pipeline_param 45" in result["versions"]["2"][1]
    names = {blob.name for blob in azurite.container(CONTAINER).list_blobs()}
    assert any(n.startswith("amlflow-datasets/by-name/compare_result/") for n in names), names
    assert any(n.startswith("dataset/") and n.endswith("/processed_data1/Titanic.csv") for n in names), names


def test_dataset_parameters_and_datapath_parameters_on_blob_only(blob_stack, web_files, azurite, tmp_path):
    """The showcasing-dataset and showcasing-datapath notebooks: datasets saved in, and folders read from, blobs."""
    stack, connection = blob_stack
    notebook = test_notebook_dataset.NOTEBOOK.format(base=web_files)
    datasets = run_notebook_text(stack, tmp_path / "dataset", notebook, **connection)
    assert datasets["status"] == ["Finished"] * 4
    assert "COLUMNS sepal_length,sepal_width,species ROWS 2" in datasets["logs"][1]
    names = {blob.name for blob in azurite.container(CONTAINER).list_blobs()}
    assert {f"amlflow-datasets/by-id/{saved}.json" for saved in datasets["ids"][:2]} <= names
    datapaths = run_notebook_text(stack, tmp_path / "datapath", test_notebook_datapath.NOTEBOOK, **connection)
    assert datapaths["status"] == ["Finished"] * 3
    assert "READ sample_string3 sample_datapath3" in datapaths["logs"][2]


def _schedule_runs(stack, schedule_id: str) -> list[dict]:
    status, runs = stack.request("GET", f"/amlflow/pipelines/v1.0/PipelineRuns/Schedule/{schedule_id}")
    assert status == 200, runs
    return runs


def test_a_blob_written_under_a_watched_folder_starts_one_run_given_its_path(blob_stack, azurite, tmp_path):
    """The datastore schedule of the showcasing-datapath notebook's last cells, polling every 6 s."""
    stack, connection = blob_stack
    files = {"reader/read.py": test_notebook_schedules.READER}
    result = run_notebook_text(stack, tmp_path, test_notebook_schedules.DATASTORE_SCHEDULE, files, **connection)
    schedule_id, pipeline = result["schedule"], result["pipeline"]
    status, dag = stack.request("GET", f"/api/v2/dags/{result['dag']}")
    assert status == 200 and not dag["is_paused"]
    container = azurite.container(CONTAINER)
    container.upload_blob("sample_datapath_for_folder/sub/deeper.csv", b"not watched", overwrite=True)
    container.upload_blob("elsewhere/other.csv", b"not watched", overwrite=True)
    time.sleep(15)  # a few polls: neither a sub-folder nor another folder is watched
    assert _schedule_runs(stack, schedule_id) == []
    container.upload_blob("sample_datapath_for_folder/new.csv", b"fresh rows", overwrite=True)
    wait_until(lambda: _schedule_runs(stack, schedule_id), timeout=120, what="the blob to start a run")
    [run] = _schedule_runs(stack, schedule_id)
    where = {"DataStoreName": "workspaceblobstore", "RelativePath": "sample_datapath_for_folder/new.csv"}
    assert run["DataPathAssignments"] == {"input_datapath": where}
    assert run["RunHistoryExperimentName"] == "Scheduled_Pipeline" and run["ScheduleId"] == schedule_id
    assert stack.wait_for_run(pipeline, run["Id"])["state"] == "success"
    assert "READ fresh rows" in stack.task_log(pipeline, run["Id"], "train_step")
    time.sleep(20)  # nothing changed since: nothing more starts
    assert len(_schedule_runs(stack, schedule_id)) == 1
    assert stack.request("PATCH", f"/amlflow/pipelines/v1.0/Schedules/{schedule_id}", {"status": "Disabled"})[0] == 200


def test_the_schedule_notebook_runs_on_blob(blob_stack, azurite, tmp_path):
    """Microsoft's schedule notebook: recurrence, datastore and endpoint schedules, disabled, enabled, updated."""
    stack, connection = blob_stack
    files = {"publish_run_train/train.py": test_notebook_endpoints.TRAIN}
    result = run_notebook_text(stack, tmp_path, test_notebook_schedules.SCHEDULE_NOTEBOOK, files, **connection)
    assert result["disabled_status"] == "Disabled"
    assert result["updated"] == ["My_Updated_Schedule", "Hour", "Active"]
    assert result["last_status"] == "Disabled"
    _id, datastore, polling, state = result["datastore_schedule"]
    assert (datastore, polling, state) == ("workspaceblobstore", 5, "Disabled")
    _id, endpoint_id, dag_id, count = result["endpoint_schedule"]
    assert count == 1
    status, dag = stack.request("GET", f"/api/v2/dags/{dag_id}")
    assert status == 200 and dag["is_paused"] and dag["timetable_summary"].startswith("every 2 days at 22:30")

    def target() -> str:
        blob = azurite.container(CONTAINER).download_blob(f"amlflow-bundle/definitions/{dag_id}.json")
        return json.loads(blob.readall())["target_dag_id"]

    assert target() == result["endpoint_default"]
    # A new default version of the endpoint: its schedule runs that version from now on.
    change = {"PipelineId": result["published_pipeline1"], "AddDefault": True}
    status, endpoint = stack.request("PATCH", f"/amlflow/pipelines/v1.0/PipelineEndpoints/Id/{endpoint_id}", change)
    assert status == 200 and endpoint["DefaultVersion"] == "1", endpoint
    assert target() == result["published_pipeline1"] != result["endpoint_default"]
