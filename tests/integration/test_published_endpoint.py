"""The AML-compatible endpoint of a published pipeline, served by the amlflow plugin of a real api-server."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest
import requests

from tests.example_pipeline import DAG_ID, installed_example
from tests.fixtures.airflow_stack import PASSWORDS

pytestmark = pytest.mark.integration

SERVICE = "/amlflow/pipelines/v1.0"

#: The seed's snippet, as written, after the DAG file that publishes ``published_pipeline1``.
SEED_SNIPPET = """
import json, runpy, sys

import requests

from amlflow.core.authentication import AirflowTokenAuthentication
from amlflow.pipeline.core import dag_file

with dag_file():  # the DAG file's own published_pipeline1, as Airflow builds it
    published_pipeline1 = runpy.run_path(sys.argv[1])["published_pipeline1"]
aad_token = AirflowTokenAuthentication().get_authentication_header()

response = requests.post(published_pipeline1.endpoint,
    headers=aad_token,
    json={"ExperimentName": "My_Pipeline",
        "ParameterAssignments": {"pipeline_arg": 20}})
print(json.dumps({"status": response.status_code, "endpoint": published_pipeline1.endpoint, "body": response.json()}))
"""


@pytest.fixture(scope="module")
def example(airflow_stack):
    return installed_example(airflow_stack)


@pytest.fixture(scope="module")
def endpoint(example) -> str:
    return f"{example.url}{SERVICE}/PipelineRuns/PipelineSubmit/{DAG_ID}"


def post(url: str, body, headers: dict | None) -> tuple[int, dict]:
    if isinstance(body, bytes):
        answer = requests.post(url, data=body, headers={**(headers or {}), "Content-Type": "application/json"})
    else:
        answer = requests.post(url, json=body, headers=headers or {})
    return answer.status_code, answer.json()


@pytest.fixture(scope="module")
def seed_run(example, tmp_path_factory):
    script = tmp_path_factory.mktemp("seed") / "seed_snippet.py"
    script.write_text(SEED_SNIPPET)
    # The caller's machine: this deployment's URL (AMLFLOW_API_URL, in env) and an Airflow user's credentials.
    env = {**example.env, "AMLFLOW_USERNAME": "admin", "AMLFLOW_PASSWORD": PASSWORDS["admin"]}
    dag_file = os.path.join(example.dags_folder, "compare_models.py")
    done = subprocess.run(
        [sys.executable, str(script), dag_file], env=env, cwd=str(script.parent), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    run = example.wait_for_run(DAG_ID, answer["body"]["Id"])
    return answer, run


def test_the_seed_snippet_works_as_written(example, endpoint, seed_run):
    answer, run = seed_run
    assert answer["status"] == 200, answer
    assert answer["endpoint"] == endpoint
    body = answer["body"]
    assert body["PipelineId"] == DAG_ID
    assert body["RunHistoryExperimentName"] == "My_Pipeline"
    assert body["Status"]["StatusCode"] in ("NotStarted", "Running")
    assert body["ParameterAssignments"] == {"pipeline_arg": 20}
    # The run Airflow made: triggered over REST by the token's user, with the value and the experiment.
    assert run["state"] == "success"
    assert (run["triggered_by"], run["triggering_user_name"]) == ("rest_api", "admin")
    assert run["conf"]["pipeline_arg"] == 20
    assert run["conf"]["amlflow"]["experiment_name"] == "My_Pipeline"
    assert run["note"] == "Experiment: My_Pipeline"
    location = example.xcom(DAG_ID, run["dag_run_id"], "compare.py", "out_data3")
    with open(os.path.join(example.local_output(location), "report.json")) as handle:
        assert json.load(handle)["pipeline_arg"] == 20


def test_run_status_and_steps_are_reported_with_azure_ml_statuses(example, seed_run):
    run_id = seed_run[0]["body"]["Id"]
    status, details = example.request("GET", f"{SERVICE}/PipelineRuns/{run_id}")
    assert status == 200
    assert details["Status"]["StatusCode"] == "Finished"
    assert details["Status"]["EndTime"] is not None
    assert details["RunHistoryExperimentName"] == "My_Pipeline"
    status, steps = example.request("GET", f"{SERVICE}/PipelineRuns/{run_id}/StepRuns")
    assert status == 200
    assert [(s["Name"], s["Status"]["StatusCode"]) for s in steps] == [
        ("train.py", "Finished"),
        ("extract.py", "Finished"),
        ("compare.py", "Finished"),
    ]


def test_published_pipelines_are_listed_with_their_endpoint_and_parameters(example, endpoint):
    status, listed = example.request("GET", f"{SERVICE}/PublishedPipelines")
    assert status == 200
    ours = {p["Id"]: p for p in listed}[DAG_ID]
    assert (ours["Status"], ours["Url"], ours["Parameters"]) == ("Active", endpoint, {"pipeline_arg": 10})
    assert ours["DataPathAssignments"] == {
        "test_data": {"DataStoreName": "workspaceblobstore", "RelativePath": "20newsgroups/20news.csv"}
    }
    status, one = example.request("GET", f"{SERVICE}/PublishedPipelines/{DAG_ID}")
    assert (status, one) == (200, ours)


def test_the_api_server_loads_the_plugin_once_and_without_errors(example):
    status, answer = example.request("GET", "/api/v2/plugins")
    assert status == 200
    ours = [plugin for plugin in answer["plugins"] if plugin["name"] == "amlflow"]
    assert [app["url_prefix"] for plugin in ours for app in plugin["fastapi_apps"]] == ["/amlflow"]
    status, answer = example.request("GET", "/api/v2/plugins/importErrors")
    assert status == 200
    assert [error for error in answer["import_errors"] if "amlflow" in json.dumps(error)] == []


def test_without_a_token_the_endpoint_answers_401(endpoint):
    status, answer = post(endpoint, {"ExperimentName": "e"}, None)
    assert (status, answer["error"]["message"]) == (401, "Not authenticated")


def test_a_viewer_may_not_submit(example, endpoint):
    status, answer = post(endpoint, {"ExperimentName": "e"}, example.viewer_headers())
    assert (status, answer["error"]) == (403, {"code": "Forbidden", "message": "Forbidden"})


def test_an_unknown_pipeline_gets_404(example, endpoint):
    status, answer = post(
        endpoint.replace(DAG_ID, "No_Such_Pipeline"), {"ExperimentName": "e"}, example.admin_headers()
    )
    assert (status, answer["error"]["message"]) == (404, "published pipeline 'No_Such_Pipeline' not found")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"ExperimentName": "e", "ParameterAssignments": {"pipeline_argument": 20}},
            "ParameterAssignments.pipeline_argument: pipeline 'Compare_Models' has no parameter 'pipeline_argument' "
            "(its parameters: pipeline_arg)",
        ),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": "twenty"}},
            "ParameterAssignments: Invalid input for param pipeline_arg: 'twenty' is not of type 'integer'",
        ),
        (b'{"ExperimentName": "e", ', "body: not valid JSON"),
        ({"ExperimentName": "e", "ParameterAssignment": {}}, "ParameterAssignment: unknown field"),
        ({"ParameterAssignments": {"pipeline_arg": 1}}, "ExperimentName: Field required"),
        (
            {"ExperimentName": "e", "DataPathAssignments": {"data": {"DataStoreName": "s", "RelativePath": "p"}}},
            "DataPathAssignments.data: 'data' is not a DataReference input of pipeline 'Compare_Models' "
            "(its DataReference inputs: test_data)",
        ),
    ],
)
def test_a_bad_submission_gets_400_naming_the_field(example, endpoint, body, message):
    status, answer = post(endpoint, body, example.admin_headers())
    assert status == 400
    assert answer["error"]["code"] == "UserError"
    assert answer["error"]["message"].startswith(message)


def test_data_path_assignments_repoint_the_data_reference_for_that_run(example, endpoint, tmp_path):
    # Other data at another path of the same datastore: y falls with x, where the uploaded data rises.
    folder = os.path.join(example.datastore_root, "workspaceblobstore", "falling")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "data.csv"), "w") as handle:
        handle.write("x,y\n" + "".join(f"{x},{50 - 2 * x}\n" for x in range(40)))
    body = {
        "ExperimentName": "Repointed",
        "DataPathAssignments": {
            "test_data": {"DataStoreName": "workspaceblobstore", "RelativePath": "falling/data.csv"}
        },
    }
    status, answer = post(endpoint, body, example.admin_headers())
    assert status == 200, answer
    assert answer["DataPathAssignments"] == body["DataPathAssignments"]
    run = example.wait_for_run(DAG_ID, answer["Id"])
    assert run["state"] == "success"
    models = example.xcom(DAG_ID, answer["Id"], "train.py", "processed_data1")
    with open(os.path.join(example.local_output(models), "linear.json")) as handle:
        assert json.load(handle)["slope"] == pytest.approx(-2.0)
    # The pipeline itself is unchanged: the next run reads the published path again.
    status, published = example.request("GET", f"{SERVICE}/PublishedPipelines/{DAG_ID}")
    assert published["DataPathAssignments"]["test_data"]["RelativePath"] == "20newsgroups/20news.csv"


def test_a_submission_is_audited_like_airflows_own_trigger(example, seed_run):
    status, logs = example.request("GET", f"/api/v2/eventLogs?dag_id={DAG_ID}&event=submit_published_pipeline")
    assert status == 200
    assert any(entry["owner"] == "admin" for entry in logs["event_logs"]), textwrap.shorten(str(logs), 500)


def test_a_submission_waits_out_another_process_holding_the_database_lock(example, endpoint):
    # The embedded deployment's one SQLite file: a scheduler loop or a burst of task starts can hold its
    # write lock past sqlite3's 5 s wait; the submission is still accepted, with its audit log row.
    locker = sqlite3.connect(example.stack.sqlite_path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")  # the write lock, as a long transaction of another process holds it
    released = threading.Timer(8, locker.rollback)
    released.start()
    try:
        status, answer = post(endpoint, {"ExperimentName": "Locked"}, example.admin_headers())
    finally:
        released.join()
        locker.close()
    assert status == 200, answer
    assert example.wait_for_run(DAG_ID, answer["Id"], timeout=300)["state"] == "success"
    status, logs = example.request("GET", f"/api/v2/eventLogs?dag_id={DAG_ID}&event=submit_published_pipeline")
    assert status == 200
    assert [entry["owner"] for entry in logs["event_logs"] if "Locked" in (entry["extra"] or "")] == ["admin"]
