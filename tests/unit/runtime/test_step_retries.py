"""Step tasks get [amlflow] step_retries unless the DAG sets its own; a retry says why it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from amlflow.core import Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep
from amlflow.runtime.tries import retry_reason


@pytest.fixture
def pipeline(tmp_path):
    (tmp_path / "s.py").write_text("")
    out = PipelineData("out")
    return Pipeline(
        Workspace(), [PythonScriptStep("s.py", arguments=[out], outputs=[out], source_directory=str(tmp_path))]
    )


def test_a_step_gets_amlflows_retries_for_tries_that_could_not_finish(pipeline):
    task = pipeline.as_dag("with_defaults").get_task("s.py")
    assert (task.retries, task.retry_delay, task._retries_are_ours) == (2, timedelta(seconds=10), True)


def test_the_dags_own_retries_win(pipeline):
    task = pipeline.as_dag("with_own", default_args={"retries": 0}).get_task("s.py")
    assert (task.retries, task._retries_are_ours) == (0, False)


def test_the_config_sets_the_default(pipeline, monkeypatch):
    monkeypatch.setenv("AIRFLOW__AMLFLOW__STEP_RETRIES", "5")
    assert pipeline.as_dag("configured").get_task("s.py").retries == 5


@pytest.mark.parametrize(
    ("previous", "said"),
    [
        (
            {"try": 1, "state": "running", "host": "w1", "pid": 7},
            "try 1 did not finish on w1 (pid 7): its task was killed",
        ),
        (
            {"try": 1, "state": "failed", "error": "StepInterruptedError", "host": "w1", "pid": 7},
            "try 1 was told to stop (its worker or the scheduler stopped) on w1 (pid 7)",
        ),
        (
            {"try": 1, "state": "failed", "error": "DatastoreError", "host": "w1", "pid": 7},
            "try 1 ended with DatastoreError",
        ),
        (None, "try 1 left no record"),
    ],
)
def test_a_retry_says_what_happened_to_the_try_before(previous, said):
    assert said in retry_reason(2, previous)
