"""DatabricksStep on the real Airflow stack (scheduler, triggerer, LocalExecutor), against the Databricks double.

The double plays the workspace and its cluster. For data on a local datastore it reads and writes the
``file://`` URIs the step hands to the job, as a cluster that mounts this machine's disk would; a real
cluster needs a blob datastore (the operator warns about exactly this).
"""

from __future__ import annotations

import json
import os
import re
import time
from urllib.parse import quote, urlsplit

import pytest

from tests.doubles.databricks import DatabricksDouble, Play
from tests.fixtures.airflow_stack import wait_until

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNING = ("PENDING", "RUNNING")
ENTRIES = ("/Shared/entry_notebook", "train.py", "score.py", "com.example.Aggregate")


def keep_above(task: dict) -> None:
    """The notebook ``/Shared/keep_above``: keep the numbers of widget ``raw`` >= ``threshold`` into ``kept``."""
    widgets = task["notebook_task"]["base_parameters"]
    source, target = urlsplit(widgets["raw"]).path, urlsplit(widgets["kept"]).path
    with open(os.path.join(source, "numbers.txt")) as handle:
        numbers = [int(line) for line in handle if line.strip()]
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "kept.txt"), "w") as handle:
        handle.write("".join(f"{n}\n" for n in numbers if n >= int(widgets["threshold"])))


def write_scores(task: dict) -> None:
    """The uploaded ``score.py``: write to the folder its ``-scores <uri>`` argument names."""
    args = task["spark_python_task"]["parameters"]
    target = urlsplit(args[args.index("-scores") + 1]).path
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "scores.csv"), "w") as handle:
        handle.write("id,score\n1,0.9\n")


@pytest.fixture(scope="module")
def stack(airflow_stack, databricks_double: DatabricksDouble):
    double = databricks_double
    double.play("/Shared/keep_above", Play(running=5, notebook_result="kept 3 numbers", work=keep_above))
    double.play("/Shared/forever", Play(running=None))
    double.play(
        "/Shared/failing",
        Play(
            result="FAILED",
            running=1,
            error="ZeroDivisionError: division by zero",
            error_trace="Traceback (most recent call last):\nZeroDivisionError: division by zero",
        ),
    )
    double.play("/Shared/entry_notebook", Play(running=1, notebook_result="notebook done"))
    double.play("train.py", Play(running=1, logs="training done"))
    double.play("score.py", Play(running=1, logs="scored", work=write_scores))
    double.play("com.example.Aggregate", Play(running=1))
    double.clusters["0101-120000-abcd123"] = "RUNNING"
    # The code the runs execute from DBFS, as the workspace would hold it (the steps look it up).
    double.write_dbfs("/scripts/train.py", b"print('training')\n")
    double.write_dbfs("/jars/aggregate.jar", b"PK\x03\x04 aggregate")
    double.write_dbfs("/scripts/reused.py", b"print('first version')\n")
    double.play("/Shared/reused", Play(pending=0, running=0))
    double.play("reused.py", Play(pending=0, running=0))
    table = os.path.join(airflow_stack.datastore_root, "workspaceblobstore", "databricks-inputs", "table.csv")
    os.makedirs(os.path.dirname(table), exist_ok=True)
    with open(table, "w") as handle:
        handle.write("a,b\n1,2\n")
    files = [
        airflow_stack.install_dag(os.path.join(HERE, "databricks_pipeline.py"), "databricks_pipeline"),
        airflow_stack.install_dag(
            os.path.join(HERE, "databricks_cases.py"),
            [
                "databricks_entry_points",
                "databricks_hold",
                "databricks_timeout",
                "databricks_failure",
                "databricks_reuse",
            ],
        ),
    ]
    for dag_id in (
        "databricks_pipeline",
        "databricks_entry_points",
        "databricks_hold",
        "databricks_timeout",
        "databricks_failure",
        "databricks_reuse",
    ):
        status, answer = airflow_stack.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200, answer
    # Deploying the attached workspaces, as a user would: the token comes from the environment.
    os.environ["AML_DATABRICKS_ACCESS_TOKEN"] = double.token
    try:
        deployed = airflow_stack.run_cli(
            "computes",
            "sync",
            *files,
            "--host",
            f"dbxpipeline={double.url}",
            "--host",
            f"dbxcases={double.url}",
            tool="amlflow",
        )
    finally:
        os.environ.pop("AML_DATABRICKS_ACCESS_TOKEN")
    assert "dbxpipeline\tDatabricks\tconnection created" in deployed.stdout
    assert double.token not in deployed.stdout + deployed.stderr
    return airflow_stack


def wait(stack, dag_id: str, run_id: str, on_change=None, timeout: float = 90) -> dict:
    """Poll the run until it ends; ``on_change(task_id, state)`` sees every task state change on the way."""
    deadline, seen = time.monotonic() + timeout, {}
    while True:
        status, run = stack.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}")
        assert status == 200, run
        if on_change is not None:
            for task_id, state in stack.task_states(dag_id, run_id).items():
                if seen.get(task_id) != state:
                    on_change(task_id, state)
                    seen[task_id] = state
        if run["state"] in ("success", "failed"):
            return run
        assert time.monotonic() < deadline, f"{dag_id} still {run['state']}: {stack.task_states(dag_id, run_id)}"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def pipeline_run(stack, databricks_double):
    seen = []

    def on_change(task_id: str, state: str | None) -> None:
        if task_id == "keep_above" and state == "deferred":
            (run_id,) = databricks_double.runs_of("/Shared/keep_above")
            seen.append(databricks_double.state_of(run_id)["life_cycle_state"])

    run_id = stack.trigger("databricks_pipeline", {"threshold": 8})
    return run_id, wait(stack, "databricks_pipeline", run_id, on_change), seen


def test_data_crosses_the_databricks_step_and_the_parameter_reaches_its_notebook(
    stack, pipeline_run, databricks_double
):
    run_id, run, _ = pipeline_run
    assert run["state"] == "success", stack.task_states("databricks_pipeline", run_id)
    summary = stack.xcom("databricks_pipeline", run_id, "report.py", "summary")
    with open(os.path.join(stack.local_output(summary), "report.json")) as handle:
        report = json.load(handle)
    assert report["kept"] == [8, 9, 10]
    raw = stack.xcom("databricks_pipeline", run_id, "prepare.py", "raw")
    kept = stack.xcom("databricks_pipeline", run_id, "keep_above", "kept")
    (body,) = databricks_double.submitted("/Shared/keep_above")
    widgets = body["tasks"][0]["notebook_task"]["base_parameters"]
    assert widgets == {"raw": raw["uri"], "kept": kept["uri"], "threshold": "8", "label": "demo"}
    assert body["run_name"] == "keep numbers above the threshold"
    # The Databricks step's output is committed like any other: manifest, fingerprint, then read downstream.
    manifest = os.path.join(stack.local_output(kept) + ".manifest.json")
    with open(manifest) as handle:
        assert [f["path"] for f in json.load(handle)["files"]] == ["kept.txt"]
    assert report["kept_from"] == stack.local_output(kept)


def test_the_task_is_deferred_while_the_run_runs(pipeline_run):
    _, _, seen = pipeline_run
    assert seen and all(state in RUNNING for state in seen)


def test_run_page_link_output_and_url_are_shown(stack, pipeline_run, databricks_double):
    run_id = pipeline_run[0]
    (dbx_run,) = databricks_double.runs_of("/Shared/keep_above")
    page = databricks_double._page(databricks_double._runs[dbx_run])
    base = f"/api/v2/dags/databricks_pipeline/dagRuns/{quote(run_id)}/taskInstances/keep_above"
    status, links = stack.request("GET", f"{base}/links")
    assert status == 200 and page in json.dumps(links)
    log = stack.task_log("databricks_pipeline", run_id, "keep_above")
    assert page in log and "kept 3 numbers" in log


def test_each_entry_point_is_submitted_with_its_body(stack, databricks_double):
    double = databricks_double
    # A lost response (5xx after the run was created) is retried with the same idempotency token: one run.
    double.fail_next("jobs/runs/submit", times=1)
    run_id = stack.trigger("databricks_entry_points", {"alpha": 0.25})
    run = wait(stack, "databricks_entry_points", run_id)
    assert run["state"] == "success", stack.task_states("databricks_entry_points", run_id)
    table_uri = "file://" + os.path.join(stack.datastore_root, "workspaceblobstore", "databricks-inputs", "table.csv")
    scores = stack.xcom("databricks_entry_points", run_id, "uploaded_script", "scores")

    notebook = one_run(double, "/Shared/entry_notebook")
    assert notebook["tasks"][0]["notebook_task"] == {
        "notebook_path": "/Shared/entry_notebook",
        "base_parameters": {"table": table_uri, "alpha": "0.25", "mode": "full"},
    }
    assert notebook["tasks"][0]["new_cluster"] == {
        "spark_version": "10.4.x-scala2.12",
        "node_type_id": "Standard_D3_v2",
        "num_workers": "2",
        "spark_env_vars": {"PYSPARK_PYTHON": "/databricks/python3/bin/python3"},
        "spark_conf": {"spark.speculation": "true"},
    }
    assert notebook["tasks"][0]["libraries"] == [
        {"maven": {"coordinates": "com.microsoft.azure:azure-eventhubs-spark_2.12:2.3.22"}},
        {"pypi": {"package": "scikit-learn==1.5.0"}},
    ]
    assert notebook["run_name"] == "notebook" and len(notebook["idempotency_token"]) == 64

    script = one_run(double, "train.py")
    assert script["tasks"][0]["existing_cluster_id"] == "0101-120000-abcd123"
    assert script["tasks"][0]["spark_python_task"] == {
        "python_file": "dbfs:/scripts/train.py",
        "parameters": ["--ALPHA", "0.25", "-table", table_uri],
    }
    assert double.calls("clusters/get")  # permit_cluster_restart=False: the cluster was checked first

    uploaded = one_run(double, "score.py")
    task = uploaded["tasks"][0]
    folder = task["spark_python_task"]["parameters"][-1]
    assert task["spark_python_task"] == {
        "python_file": f"{folder}/score.py",
        "parameters": ["--mode", "fast", "-scores", scores["uri"], "--AZUREML_SCRIPT_DIRECTORY_NAME", folder],
    }
    assert folder.startswith("dbfs:/amlflow/databricks_entry_points/")
    with open(os.path.join(HERE, "databricks_cases", "score.py"), "rb") as handle:
        assert double.dbfs[folder.removeprefix("dbfs:") + "/score.py"] == handle.read()
    assert task["new_cluster"]["autoscale"] == {"min_workers": "1", "max_workers": "3"}
    assert uploaded["run_name"] == "score with the uploaded script"
    with open(os.path.join(stack.local_output(scores), "scores.csv")) as handle:
        assert handle.read().startswith("id,score")

    jar = one_run(double, "com.example.Aggregate")
    assert jar["tasks"][0]["spark_jar_task"] == {
        "main_class_name": "com.example.Aggregate",
        "parameters": ["--ALPHA", "0.25", "-scores", scores["uri"]],
    }
    assert jar["tasks"][0]["libraries"] == [{"jar": "dbfs:/jars/aggregate.jar"}]
    assert jar["tasks"][0]["new_cluster"]["instance_pool_id"] == "pool-0101"
    assert "node_type_id" not in jar["tasks"][0]["new_cluster"]
    assert jar["timeout_seconds"] == "600"

    # One submit was answered 500 after its run was made; the hook's retry got that run back, not a new one.
    assert sum(len(double.submitted(e)) for e in ENTRIES) == 5


def polls(double: DatabricksDouble, run_id: int) -> int:
    """How many ``runs/get`` asked for ``run_id`` (the async hook sends it as a JSON body, requests as a query)."""
    return sum(int({**r.body, **r.query}.get("run_id", -1)) == run_id for r in double.calls("jobs/runs/get"))


def one_run(double: DatabricksDouble, entry: str) -> dict:
    """The body that made the one run of ``entry`` (a retried submit sends the same body and token)."""
    bodies = double.submitted(entry)
    assert len(double.runs_of(entry)) == 1 and bodies and all(b == bodies[0] for b in bodies)
    return bodies[0]


def test_deferred_runs_hold_no_worker_slot_and_a_kill_cancels_them(stack, databricks_double):
    double = databricks_double
    run_id = stack.trigger("databricks_hold")
    holds = [f"hold_{n}" for n in range(1, 5)]

    def all_deferred() -> bool:
        states = stack.task_states("databricks_hold", run_id)
        return all(states.get(t) == "deferred" for t in holds) and states.get("local.py") == "success"

    # Four runs wait at once while a local step runs: more than the stack's 3 worker slots.
    wait_until(all_deferred, what="four deferred Databricks tasks and the local step done")
    runs = double.runs_of("/Shared/forever")
    assert all(double.state_of(r)["life_cycle_state"] in RUNNING for r in runs)
    # The triggerer watches them (it can only cancel what it runs): each run is polled beyond the
    # two looks the task took before deferring.
    wait_until(lambda: all(polls(double, r) > 2 for r in runs), what="the triggerer to poll every run")
    base = f"/api/v2/dags/databricks_hold/dagRuns/{quote(run_id)}/taskInstances"
    for task_id in holds:
        status, answer = stack.request("PATCH", f"{base}/{task_id}", {"new_state": "failed"})
        assert status == 200, answer
    wait_until(lambda: all(double.cancelled(r) for r in runs), what="the double to see every cancel")
    assert all(double.state_of(r)["result_state"] == "CANCELED" for r in runs)


def test_a_task_timeout_cancels_its_run(stack, databricks_double):
    double = databricks_double
    before = set(double.runs_of("/Shared/forever"))
    run_id = stack.trigger("databricks_timeout")
    run = wait(stack, "databricks_timeout", run_id, timeout=60)
    assert run["state"] == "failed"
    (dbx_run,) = set(double.runs_of("/Shared/forever")) - before
    assert double.cancelled(dbx_run)
    assert re.search(
        rf"timed out .* Databricks run {dbx_run}.*cancelled", stack.task_log("databricks_timeout", run_id, "timed")
    )


def test_a_failed_run_fails_the_task_with_its_message_and_url(stack, databricks_double):
    run_id = stack.trigger("databricks_failure")
    run = wait(stack, "databricks_failure", run_id)
    assert run["state"] == "failed"
    (dbx_run,) = databricks_double.runs_of("/Shared/failing")
    log = stack.task_log("databricks_failure", run_id, "failing")
    assert f"Databricks run {dbx_run} ended FAILED" in log
    assert "ZeroDivisionError: division by zero" in log
    assert databricks_double._page(databricks_double._runs[dbx_run]) in log
    assert len(databricks_double.submitted("/Shared/failing")) == 1  # a failed run is not run again


def test_an_unchanged_run_is_reused_and_edited_code_in_the_workspace_runs_again(stack, databricks_double):
    double = databricks_double

    def run_reuse() -> tuple[str, dict[str, int]]:
        before = {entry: len(double.submitted(entry)) for entry in ("/Shared/reused", "reused.py")}
        run_id = stack.trigger("databricks_reuse")
        run = wait(stack, "databricks_reuse", run_id)
        assert run["state"] == "success", stack.task_states("databricks_reuse", run_id)
        return run_id, {entry: len(double.submitted(entry)) - before[entry] for entry in before}

    first, submitted = run_reuse()
    assert submitted == {"/Shared/reused": 1, "reused.py": 1}
    again, submitted = run_reuse()
    assert submitted == {"/Shared/reused": 0, "reused.py": 0}
    for task_id in ("reused_notebook", "reused_script"):
        reused = stack.xcom("databricks_reuse", again, task_id, "amlflow_reuse")
        assert reused["reused_run_id"] == first and reused["reused_task_id"] == task_id

    # The notebook edited in the workspace, the script replaced on DBFS: each runs again.
    double.notebooks["/Shared/reused"] = "# Databricks notebook source\nprint('edited')\n"
    _, submitted = run_reuse()
    assert submitted == {"/Shared/reused": 1, "reused.py": 0}
    double.write_dbfs("/scripts/reused.py", b"print('second version')\n")
    _, submitted = run_reuse()
    assert submitted == {"/Shared/reused": 0, "reused.py": 1}
