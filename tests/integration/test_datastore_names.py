"""A DAG file's datastore names are checked when its steps run (never while it is parsed): a name that is not
registered fails the step with Azure ML's message, at once, and never becomes a new local folder."""

from __future__ import annotations

import os

import pytest

from tests.pipelines import captured_output, run_dag, task_states, write_dag_file

pytestmark = pytest.mark.integration

PIPELINE = """
from amlflow.core import Datastore, Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
out = PipelineData("out", datastore=Datastore(ws, "workspaceblobstroe"))  # a typo
step = PythonScriptStep("write.py", arguments=[out], outputs=[out], source_directory="names_scripts")
Pipeline(ws, [step]).publish(name="typo_datastore")
"""


def test_a_step_on_a_name_that_is_not_registered_fails_at_once_and_makes_no_folder(dags_folder, datastore_root):
    dag_file = write_dag_file("typo_datastore.py", PIPELINE, {"write.py": "print('never runs')\n"}, "names_scripts")
    with captured_output() as logs:
        run = run_dag(dag_file, "typo_datastore")
    assert task_states(run) == {"write.py": "failed"}
    assert "Could not find datastore: workspaceblobstroe (there is no Airflow connection" in logs[0]
    (ti,) = run.get_task_instances()
    assert ti.try_number == 1, "not retried: no retry can register it"
    assert not os.path.exists(os.path.join(datastore_root, "workspaceblobstroe"))
