"""AdlaStep on a real Airflow deployment: the job waits in the real triggerer; a kill or a timeout cancels it."""

from __future__ import annotations

import json
import os
import textwrap
from urllib.parse import quote

import pytest

from tests.doubles.adla import Outcome
from tests.fixtures.airflow_stack import wait_until

CONN_ID = "adlastack"

PIPELINES = f"""
from datetime import timedelta

from amlflow.core import Workspace
from amlflow.core.compute import AdlaCompute, ComputeTarget
from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import AdlaStep

ws = Workspace()
adla = ComputeTarget.attach(ws, {CONN_ID!r}, AdlaCompute.attach_configuration(account_name="amlflowstack"))
for name, timeout in (("adla_kill", None), ("adla_stack_timeout", timedelta(seconds=12))):
    step = AdlaStep("forever.usql", name="forever", compute_target=adla, source_directory="adla_stack")
    Pipeline(ws, [step]).as_dag(
        name, default_args={{"execution_timeout": timeout}}, is_paused_upon_creation=False
    )
"""


@pytest.fixture(scope="module")
def stack(airflow_stack, adla_double, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adla_stack_dags")
    os.makedirs(folder / "adla_stack")
    (folder / "adla_stack" / "forever.usql").write_text('OUTPUT (SELECT 1 AS x FROM (VALUES (1)) AS t(x)) TO "/x";\n')
    dag_file = folder / "adla_stack.py"
    dag_file.write_text(textwrap.dedent(PIPELINES))
    connection = adla_double.connection("amlflowstack")
    status, answer = airflow_stack.request(
        "POST",
        "/api/v2/connections",
        {
            "connection_id": CONN_ID,
            "conn_type": connection["conn_type"],
            "login": connection["login"],
            "password": connection["password"],
            "extra": json.dumps(connection["extra"]),
        },
    )
    assert status in (200, 201, 409), answer
    adla_double.plan("adla_kill.", Outcome.never_ends())
    adla_double.plan("adla_stack_timeout.", Outcome.never_ends())
    airflow_stack.install_dag(str(dag_file), ["adla_kill", "adla_stack_timeout"])
    return airflow_stack


def job_of(double, dag_id: str, run_id: str) -> str | None:
    found = [j for j in double.job_ids(f"{dag_id}.") if run_id in double.job(j)["name"]]
    return found[0] if found else None


def test_killing_the_deferred_task_cancels_the_job(stack, adla_double):
    run_id = stack.trigger("adla_kill")
    wait_until(
        lambda: (
            stack.task_states("adla_kill", run_id).get("forever") == "deferred"
            and job_of(adla_double, "adla_kill", run_id) is not None
        ),
        what="the task to defer with its job running",
    )
    job_id = job_of(adla_double, "adla_kill", run_id)
    # The worker read the state once before deferring; a second read is the trigger's, in the triggerer.
    # (A kill before the triggerer has started the trigger cannot cancel anything: Airflow calls no on_kill.)
    wait_until(lambda: adla_double.polls(job_id) >= 2, what="the triggerer to start polling the job")
    assert adla_double.job(job_id)["state"] == "Running" and adla_double.cancels(job_id) == 0

    base = f"/api/v2/dags/adla_kill/dagRuns/{quote(run_id)}/taskInstances/forever"
    status, answer = stack.request("PATCH", base, {"new_state": "failed"})
    assert status == 200, answer
    wait_until(lambda: adla_double.cancels(job_id) > 0, what="the triggerer to cancel the job")
    assert adla_double.job(job_id)["result"] == "Cancelled"
    assert stack.task_states("adla_kill", run_id)["forever"] == "failed"


def test_execution_timeout_in_the_triggerer_cancels_the_job_and_says_so(stack, adla_double):
    run_id = stack.trigger("adla_stack_timeout")
    run = stack.wait_for_run("adla_stack_timeout", run_id, timeout=90)
    assert run["state"] == "failed"
    job_id = job_of(adla_double, "adla_stack_timeout", run_id)
    assert adla_double.cancels(job_id) == 1
    assert adla_double.job(job_id)["result"] == "Cancelled"
    log = stack.task_log("adla_stack_timeout", run_id, "forever")
    assert f"ADLA job {job_id}: state Running" in log
    assert "execution_timeout (0:00:12) passed" in log and f"ADLA job {job_id} was cancelled" in log
