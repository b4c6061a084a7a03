"""The pipeline view's JSON route (``amlflow.api.pipeline_view``) on the session stack."""

from __future__ import annotations

import os

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

DAG_ID = "pipeline_view"
VIEW = "/amlflow/view/v1.0/dags/{dag_id}/runs/{run_id}"


@pytest.fixture(scope="module")
def runs(airflow_stack):
    """A run that ran every step, then an unchanged run whose ``score`` reuses the first's."""
    airflow_stack.install_dag(os.path.join(ROOT, "tests", "integration", "pipeline_view.py"), DAG_ID)
    status, answer = airflow_stack.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    assert status == 200, answer
    first = airflow_stack.run(DAG_ID, {"factor": 3, "regenerate_outputs": True})
    second = airflow_stack.run(DAG_ID, {"factor": 3})
    assert (first["state"], second["state"]) == ("success", "success")
    return first["dag_run_id"], second["dag_run_id"]


def view(stack, run_id: str, user: str | None = "admin") -> tuple[int, dict]:
    return stack.request("GET", VIEW.format(dag_id=DAG_ID, run_id=run_id), user=user)


def test_a_run_shows_its_steps_in_graph_order_with_status_parameters_outputs_and_metrics(airflow_stack, runs):
    first, _second = runs
    status, answer = view(airflow_stack, first)
    assert status == 200, answer
    assert answer["pipeline"]["id"] == DAG_ID
    assert (answer["run"]["id"], answer["run"]["status"]) == (first, "Finished")
    assert answer["run"]["parameters"] == {"factor": 3}
    assert [(s["name"], s["status"], s["upstream"]) for s in answer["steps"]] == [
        ("score", "Finished", []),
        ("report", "Finished", ["score"]),
    ]
    score = answer["steps"][0]
    assert score["reused"] is None and score["seconds"] > 0
    assert score["log"] == f"dags/{DAG_ID}/runs/{first}/tasks/score"
    location = airflow_stack.xcom(DAG_ID, first, "score", "scores")
    assert score["outputs"] == {"scores": {k: location[k] for k in ("datastore", "path", "uri")}}
    assert score["metrics"] == {
        "accuracy": 0.75,
        "losses": [0.9, 0.5, 0.3],
        "curve": {"epoch": [1, 2], "acc": [0.5, 0.75]},
        "confusion": {"label": ["a", "b"], "count": [3, 4]},
    }


def test_a_reused_step_names_the_run_it_reused_and_shows_that_runs_outputs_and_metrics(airflow_stack, runs):
    first, second = runs
    earlier, now = view(airflow_stack, first)[1], view(airflow_stack, second)[1]
    score, report = now["steps"]
    assert score["reused"] == {"dag_id": DAG_ID, "run_id": first, "task_id": "score"}
    assert score["outputs"] == earlier["steps"][0]["outputs"]
    assert score["metrics"]["accuracy"] == 0.75
    assert report["reused"] is None  # allow_reuse=False: it ran again


def test_a_viewer_may_look_and_a_caller_without_a_token_may_not(airflow_stack, runs):
    first, _second = runs
    assert view(airflow_stack, first, user="viewer")[0] == 200
    assert view(airflow_stack, first, user=None)[0] == 401


def test_an_unknown_run_gets_404_naming_it(airflow_stack, runs):
    status, answer = view(airflow_stack, "no_such_run")
    assert status == 404
    assert answer["error"]["message"] == f"pipeline '{DAG_ID}' has no run 'no_such_run'"
