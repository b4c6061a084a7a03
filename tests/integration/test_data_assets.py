"""A pipeline's data in Airflow's asset graph: each output with the steps that produce and consume it.

On the real stack, the three-step ``Lineage_Steps`` (``lineage_pipeline.py``): what ``/api/v2/assets``
says of each output, the DataReference it reads and the dataset it registers; what each asset event of
a run says of that run's files; and that a step that fails emits no event and registers nothing.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.integration

DAG_ID = "Lineage_Steps"
STORE = "azureml://datastores/workspaceblobstore/paths"
PREPARED = f"{STORE}/amlflow/{DAG_ID}/{{run_id}}/prepare.py/prepared"
MODEL = f"{STORE}/dataset/{DAG_ID}/{{run_id}}/train.py/model"
SCORES = f"{STORE}/lineage/scores/{DAG_ID}/{{run_id}}/score.py"
RAW = f"{STORE}/lineage/raw.txt"
REGISTERED = "azureml://datasets/lineage_scores"


@pytest.fixture(scope="module")
def lineage(airflow_stack):
    airflow_stack.install_dag(os.path.join(os.path.dirname(__file__), "lineage_pipeline.py"), DAG_ID)
    raw = os.path.join(airflow_stack.datastore_root, "workspaceblobstore", "lineage", "raw.txt")
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    with open(raw, "w") as handle:
        handle.write("some raw text")
    good = airflow_stack.run(DAG_ID, {"fail": 0}, timeout=180)
    failed = airflow_stack.run(DAG_ID, {"fail": 1}, timeout=180)
    return airflow_stack, good, failed


def _asset(stack, uri: str) -> dict:
    status, body = stack.request("GET", f"/api/v2/assets?uri_pattern={quote(uri, safe='')}")
    assert status == 200, body
    [asset] = [a for a in body["assets"] if a["uri"] == uri]
    return asset


def _tasks(asset: dict, role: str) -> set[str]:
    return {(t["dag_id"], t["task_id"]) for t in asset[role]}


def _events(stack, asset: dict, run_id: str) -> list[dict]:
    status, body = stack.request("GET", f"/api/v2/assets/events?asset_id={asset['id']}&limit=100")
    assert status == 200, body
    return [e for e in body["asset_events"] if e["source_run_id"] == run_id]


def test_each_output_names_the_step_that_produces_it_and_those_that_consume_it(lineage):
    stack, good, _ = lineage
    assert good["state"] == "success"
    expected = {
        RAW: (set(), {(DAG_ID, "prepare.py")}),
        PREPARED: ({(DAG_ID, "prepare.py")}, {(DAG_ID, "train.py"), (DAG_ID, "score.py")}),
        MODEL: ({(DAG_ID, "train.py")}, {(DAG_ID, "score.py")}),
        SCORES: ({(DAG_ID, "score.py")}, set()),
        REGISTERED: ({(DAG_ID, "score.py")}, set()),
    }
    for uri, (producers, consumers) in expected.items():
        asset = _asset(stack, uri)
        assert (_tasks(asset, "producing_tasks"), _tasks(asset, "consuming_tasks")) == (producers, consumers), uri


def test_an_event_says_where_the_run_committed_its_files(lineage):
    stack, good, _ = lineage
    run_id = good["dag_run_id"]
    [event] = _events(stack, _asset(stack, PREPARED), run_id)
    extra = event["extra"]
    assert (event["source_task_id"], extra["run_id"], extra["files"]) == ("prepare.py", run_id, 1)
    assert extra["bytes"] == len("SOME RAW TEXT") and len(extra["fingerprint"]) == 64
    committed = os.path.join(stack.datastore_root, extra["datastore"], extra["path"], "prepared.txt")
    with open(committed) as handle:
        assert handle.read() == "SOME RAW TEXT"
    [registered] = _events(stack, _asset(stack, REGISTERED), run_id)
    assert (registered["extra"]["name"], registered["extra"]["version"]) == ("lineage_scores", 1)


def test_a_failed_step_emits_no_event_and_registers_nothing(lineage):
    stack, _, failed = lineage
    assert failed["state"] == "failed"
    assert stack.task_states(DAG_ID, failed["dag_run_id"])["score.py"] == "failed"
    assert _events(stack, _asset(stack, SCORES), failed["dag_run_id"]) == []
    assert _events(stack, _asset(stack, REGISTERED), failed["dag_run_id"]) == []
    assert len(_events(stack, _asset(stack, MODEL), failed["dag_run_id"])) == 1  # the steps before it did emit
    versions = os.path.join(stack.datastore_root, "workspaceblobstore", "amlflow-datasets", "by-name", "lineage_scores")
    assert sorted(os.listdir(versions)) == ["1.json"]
