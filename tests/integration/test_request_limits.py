"""What a run request may carry, checked at the door on the real stack: 400 naming the field, and no run.

The probes of issue 20: a ``DataPathAssignments`` (or conf data path) that names a folder of the worker
instead of a datastore read ``/etc/passwd``; values no script can receive got a 200 and a run that could
only fail; a deeply nested body got a 500. Both doors are tried: the AML-compatible endpoint and
Airflow's own trigger route (which the UI's trigger form uses too).
"""

from __future__ import annotations

import os

import pytest
import requests

pytestmark = pytest.mark.integration

DAG_ID = "Guarded_Slow"
SUBMIT = f"/amlflow/pipelines/v1.0/PipelineRuns/PipelineSubmit/{DAG_ID}"


@pytest.fixture(scope="module")
def stack(airflow_stack):
    airflow_stack.install_dag(os.path.join(os.path.dirname(__file__), "guarded_pipeline.py"), DAG_ID)
    notes = os.path.join(airflow_stack.datastore_root, "workspaceblobstore", "guarded", "notes.txt")
    os.makedirs(os.path.dirname(notes), exist_ok=True)
    with open(notes, "w") as handle:
        handle.write("notes ")
    return airflow_stack


def run_count(stack) -> int:
    status, answer = stack.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=1")
    assert status == 200, answer
    return answer["total_entries"]


def post_raw(stack, path: str, raw: bytes) -> tuple[int, dict]:
    answer = requests.post(
        stack.url + path, data=raw, headers={**stack.admin_headers(), "Content-Type": "application/json"}, timeout=60
    )
    return answer.status_code, answer.json()


def submission(**fields) -> dict:
    return {"ExperimentName": "probe", **fields}


PASSWD = {"notes": {"DataStoreName": "/etc", "RelativePath": "passwd"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            submission(DataPathAssignments=PASSWD),
            "DataPathAssignments.notes.DataStoreName: '/etc' is not a datastore name",
        ),
        (
            submission(DataPathAssignments={"notes": {"DataStoreName": "../../../../etc", "RelativePath": "passwd"}}),
            "DataPathAssignments.notes.DataStoreName: '../../../../etc' is not a datastore name",
        ),
        (
            # Another team's connection, in the worker's environment: a name, but not this pipeline's.
            submission(DataPathAssignments={"notes": {"DataStoreName": "team_secrets", "RelativePath": "x"}}),
            "DataPathAssignments.notes.DataStoreName: pipeline 'Guarded_Slow' does not use datastore 'team_secrets'",
        ),
        (
            submission(DataPathAssignments={"notes": {"DataStoreName": "workspaceblobstore", "RelativePath": "../x"}}),
            "DataPathAssignments.notes.RelativePath: '../x' must be a path inside the datastore",
        ),
        (
            submission(ParameterAssignments={"repeat": 10**30}),
            "ParameterAssignments.repeat: integer 1000000000...(31 characters) is outside the range a run can carry",
        ),
        (
            submission(ParameterAssignments={"label": "x" * 1_000_000}),
            "ParameterAssignments.label: a string of 1,000,000 characters is longer than the 16,384",
        ),
        (
            submission(ParameterAssignments={"label": "a\x00b"}),
            "ParameterAssignments.label: a string must not contain the NUL character",
        ),
    ],
)
def test_the_aml_endpoint_refuses_what_no_step_may_read_or_receive(stack, body, message):
    before = run_count(stack)
    status, answer = stack.request("POST", SUBMIT, body)
    assert status == 400, answer
    assert answer["error"]["message"].startswith(message), answer
    assert run_count(stack) == before


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"amlflow": {"data_paths": {"notes": {"datastore": "/etc", "path": "passwd"}}}}, "'/etc' is not one of"),
        ({"amlflow": {"data_paths": {"notes": {"datastore": "../../../../etc", "path": "passwd"}}}}, "is not one of"),
        ({"amlflow": {"data_paths": {"notes": {"datastore": "team_secrets", "path": "x"}}}}, "is not one of"),
        ({"repeat": 10**30}, "Invalid input for param repeat"),
        ({"label": "x" * 1_000_000}, "Invalid input for param label"),
        ({"label": "a\x00b"}, "Invalid input for param label"),
    ],
)
def test_airflows_own_trigger_refuses_the_same_with_a_400_naming_the_param(stack, conf, message):
    before = run_count(stack)
    status, answer = stack.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
    assert status == 400, answer
    assert message in answer["detail"], answer
    assert run_count(stack) == before


def test_a_body_nested_100000_levels_gets_a_400_at_the_endpoint(stack):
    status, answer = post_raw(stack, SUBMIT, b"[" * 100_000)
    assert status == 400, answer
    assert answer["error"]["message"] == "body: nested deeper than 32 levels"


@pytest.mark.parametrize("depth", [220, 300])
def test_a_trigger_nested_too_deep_to_ever_run_gets_a_400_not_a_run_or_a_500(stack, depth):
    """Airflow 3.3.2 alone: 220 levels make a run whose tasks can never start; 300 levels answer 500."""
    before = run_count(stack)
    raw = b'{"logical_date": null, "conf": {"deep": ' + b"[" * depth + b"]" * depth + b"}}"
    status, answer = post_raw(stack, f"/api/v2/dags/{DAG_ID}/dagRuns", raw)
    assert status == 400, answer
    assert answer["detail"] == "body: nested deeper than 32 levels"
    assert run_count(stack) == before


def test_a_good_request_still_runs_and_its_values_reach_the_script(stack):
    label = "é" * 16_384  # the longest string a parameter may be, of 2-byte characters
    answer = requests.post(
        stack.url + SUBMIT,
        json=submission(ParameterAssignments={"label": label, "repeat": 2}),
        headers=stack.admin_headers(),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    run = stack.wait_for_run(DAG_ID, answer.json()["Id"])
    assert run["state"] == "success", stack.task_states(DAG_ID, run["dag_run_id"])
    location = stack.xcom(DAG_ID, run["dag_run_id"], "slow.py", "out")
    with open(os.path.join(stack.local_output(location), "result.txt")) as handle:
        assert handle.read() == "notes " + label * 2
