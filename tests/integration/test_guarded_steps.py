"""A step script dies with its task, killed tries leave nothing behind, stops are retried, secrets stay out.

On the session's real stack (LocalExecutor): ``Guarded_Slow``'s script writes 1 MB of output, then runs
until the test creates ``<control>/release``; the test kills its task process with SIGKILL, or stops
the scheduler as an init system does, while it runs.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.fixtures.airflow_stack import SECRET, WORKER_SECRETS, wait_until
from tests.processes import alive, parent

pytestmark = pytest.mark.integration

DAG_ID = "Guarded_Slow"
STEP = "slow.py"


@pytest.fixture(scope="module")
def stack(airflow_stack):
    airflow_stack.install_dag(os.path.join(os.path.dirname(__file__), "guarded_pipeline.py"), [DAG_ID, "Guarded_Env"])
    notes = os.path.join(airflow_stack.datastore_root, "workspaceblobstore", "guarded", "notes.txt")
    os.makedirs(os.path.dirname(notes), exist_ok=True)
    with open(notes, "w") as handle:
        handle.write("notes ")
    return airflow_stack


def _script_pids(control) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in control.glob("pid-*"))


def _start(stack, control) -> tuple[str, int]:
    """Trigger a run whose script waits in ``control``; its run id and the pid of its (first) script."""
    run_id = stack.trigger(DAG_ID, {"control": str(control)})
    wait_until(lambda: _script_pids(control), timeout=90, what="the step script to start")
    return run_id, _script_pids(control)[0]


def _staging(stack) -> list[str]:
    folder = os.path.join(stack.datastore_root, "workspaceblobstore", ".amlflow-staging")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_killing_the_task_kills_its_script_and_the_retry_removes_what_it_left(stack, tmp_path):
    run_id, script = _start(stack, tmp_path)
    assert any(name.endswith(".lease") for name in _staging(stack))  # its output, staged
    task = parent(parent(script))  # script <- guard <- task process
    os.kill(task, signal.SIGKILL)
    time.sleep(1)
    assert not alive(script), "the step script outlived its task by more than 1 s"
    (tmp_path / "release").touch()
    run = stack.wait_for_run(DAG_ID, run_id, timeout=180)
    assert run["state"] == "success", stack.task_states(DAG_ID, run_id)
    log = stack.task_log(DAG_ID, run_id, STEP)
    assert "This is try 2 of the step: try 1 did not finish" in log
    assert "Removed what a killed task left behind" in log and "try 1 of step 'slow.py'" in log
    assert _staging(stack) == []


def test_a_scheduler_stop_during_a_run_ends_in_a_successful_retry(stack, tmp_path):
    run_id, script = _start(stack, tmp_path)
    stack.stack.restart("scheduler")  # SIGTERM to its process group: the worker tells the task to stop
    assert not alive(script)
    (tmp_path / "release").touch()
    run = stack.wait_for_run(DAG_ID, run_id, timeout=180)
    assert run["state"] == "success", stack.task_states(DAG_ID, run_id)
    status, tries = stack.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{STEP}/tries")
    assert status == 200 and [t["try_number"] for t in tries["task_instances"]] == [1, 2], tries
    log = stack.task_log(DAG_ID, run_id, STEP)
    assert "This is try 2 of the step: try 1 was told to stop (its worker or the scheduler stopped)" in log


def test_a_step_script_gets_azure_mls_environment_and_none_of_the_workers_secrets(stack):
    run = stack.run("Guarded_Env")
    assert run["state"] == "success", stack.task_states("Guarded_Env", run["dag_run_id"])
    location = stack.xcom("Guarded_Env", run["dag_run_id"], "env_dump.py", "environment")
    with open(os.path.join(stack.local_output(location), "env.json")) as handle:
        env = json.load(handle)
    assert "AIRFLOW_CONN_TEAM_SECRETS" in stack.env and set(WORKER_SECRETS) <= set(stack.env)  # the worker has it
    assert not [name for name in env if name.startswith("AIRFLOW")], sorted(env)
    assert not [name for name, value in env.items() if SECRET in value]
    assert env["AML_PARAMETER_mode"] == "probe"
    assert env["AZUREML_RUN_ID"] == f"{run['dag_run_id']}/env_dump.py"
    assert os.path.isabs(env["AZUREML_DATAREFERENCE_environment"])
    assert env["PATH"] == stack.env["PATH"] and env["PYTHONUNBUFFERED"] == "1"
