"""A DBFS datastore (``Datastore.register_dbfs``): DataReference inputs and PipelineData outputs of a
DatabricksStep are ``dbfs:/`` paths on the step's workspace, and anything else fails with Azure ML's rule.
Run in-process with ``dag.test`` against the Databricks double (its DBFS holds the files)."""

from __future__ import annotations

import json

import pytest

from tests.doubles.databricks import Play
from tests.pipelines import captured_output, output_location, run_dag, task_states, write_dag_file

pytestmark = pytest.mark.integration

PIPELINES = """
import os

from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import DatabricksStep, PythonScriptStep

ws = Workspace()
dbfs = Datastore(ws, "dbfsstore")
table = DataReference(dbfs, data_reference_name="table", path_on_datastore="inputs/table.csv")
upper = PipelineData("upper", datastore=dbfs)
notebook = DatabricksStep(name="upper", inputs=[table], outputs=[upper], num_workers=1,
                          notebook_path="/Shared/dbfs_upper", compute_target="dbxtests", allow_reuse=False)
dag_databricks = Pipeline(ws, [notebook]).as_dag("dbfs_databricks", default_args={"polling_period_seconds": 1})

local = PythonScriptStep("read.py", arguments=[table], inputs=[table], allow_reuse=False,
                         source_directory=os.path.join(os.path.dirname(os.path.abspath(__file__)), "dbfs_scripts"))
dag_local = Pipeline(ws, [local]).as_dag("dbfs_python_step")
"""


@pytest.fixture(scope="module")
def dbfs_pipelines(dags_folder, databricks_double):
    from amlflow.core import Datastore, Workspace

    Datastore.register_dbfs(Workspace(), "dbfsstore")
    databricks_double.dbfs["/inputs/table.csv"] = b"name\nada\n"

    def upper(task: dict) -> None:
        """The notebook: a cluster reads and writes DBFS paths itself."""
        widgets = task["notebook_task"]["base_parameters"]
        assert widgets["table"] == "dbfs:/inputs/table.csv"
        source, target = widgets["table"].removeprefix("dbfs:"), widgets["upper"].removeprefix("dbfs:")
        databricks_double.dbfs[f"{target}/table.csv"] = databricks_double.dbfs[source].upper()

    databricks_double.play("/Shared/dbfs_upper", Play(running=1, work=upper))
    return write_dag_file("dbfs_pipelines.py", PIPELINES, {"read.py": "print('never runs')\n"}, "dbfs_scripts")


def test_a_databricks_step_reads_and_writes_dbfs_paths_and_its_output_is_committed_on_dbfs(
    dbfs_pipelines, databricks_double
):
    run = run_dag(dbfs_pipelines, "dbfs_databricks")
    assert task_states(run) == {"upper": "success"}
    location = output_location(run, "upper", "upper")
    assert location.uri == f"dbfs:/{location.path}"
    assert databricks_double.dbfs[f"/{location.path}/table.csv"] == b"NAME\nADA\n"
    manifest = json.loads(databricks_double.dbfs[f"/{location.path}.manifest.json"])
    assert [(entry["path"], entry["size"]) for entry in manifest["files"]] == [("table.csv", 9)]


def test_any_other_step_on_a_dbfs_datastore_fails_with_azure_mls_rule(dbfs_pipelines):
    with captured_output() as logs:
        run = run_dag(dbfs_pipelines, "dbfs_python_step")
    assert task_states(run) == {"read.py": "failed"}
    assert (
        "datastore 'dbfsstore': a DBFS datastore can only be used to create DataReference as input and "
        "PipelineData as output to DatabricksStep" in logs[0]
    )
