"""Triggering the published example pipeline through Airflow's own REST API, on a real deployment."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

DAG_ID = "Compare_Models"
TRIGGER = f"/api/v2/dags/{DAG_ID}/dagRuns"


@pytest.fixture(scope="module")
def example(airflow_stack):
    airflow_stack.install_dag(os.path.join(ROOT, "dags", "compare_models.py"), DAG_ID)
    airflow_stack.run_python(os.path.join(airflow_stack.dags_folder, "compare_models", "upload_data.py"))
    return airflow_stack


@pytest.fixture(scope="module")
def rest_run(example):
    status, run = example.request("POST", TRIGGER, {"logical_date": None, "conf": {"pipeline_arg": 1}})
    assert status == 200, run
    return example.wait_for_run(DAG_ID, run["dag_run_id"])


def test_published_pipeline_is_created_unpaused(example):
    status, dag = example.request("GET", f"/api/v2/dags/{DAG_ID}")
    assert status == 200
    assert dag["is_paused"] is False


def test_run_triggered_over_rest_uses_the_parameter_values_of_its_conf(example, rest_run):
    assert rest_run["state"] == "success"
    assert rest_run["conf"] == {"pipeline_arg": 1}
    assert example.task_states(DAG_ID, rest_run["dag_run_id"]) == {
        "train.py": "success",
        "extract.py": "success",
        "compare.py": "success",
    }
    location = example.xcom(DAG_ID, rest_run["dag_run_id"], "compare.py", "out_data3")
    with open(os.path.join(example.local_output(location), "report.json")) as handle:
        report = json.load(handle)
    assert report["pipeline_arg"] == 1
    assert report["pipeline_arg_env"] == "1"
    assert report["ranking"] == ["linear"]  # the default (10) would rank both models


def test_wrong_parameter_type_is_rejected_with_400_naming_the_parameter(example):
    status, answer = example.request("POST", TRIGGER, {"logical_date": None, "conf": {"pipeline_arg": "x"}})
    assert status == 400
    assert "pipeline_arg" in answer["detail"]
    assert "'x' is not of type 'integer'" in answer["detail"]


def test_unknown_dag_gets_404(example):
    status, answer = example.request("POST", "/api/v2/dags/No_Such_Pipeline/dagRuns", {"logical_date": None})
    assert status == 404
    assert "No_Such_Pipeline" in answer["detail"]


def test_viewer_may_not_trigger(example):
    status, answer = example.request("POST", TRIGGER, {"logical_date": None, "conf": {"pipeline_arg": 1}}, "viewer")
    assert status == 403
    assert answer["detail"] == "Forbidden"


def test_without_a_token_the_api_answers_401(example):
    status, _ = example.request("POST", TRIGGER, {"logical_date": None, "conf": {}}, user=None)
    assert status == 401
