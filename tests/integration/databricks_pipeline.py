"""A pipeline with a DatabricksStep between two PythonScriptSteps, attached the way the seed attaches it.

prepare.py writes numbers (PipelineData ``raw``); the notebook ``/Shared/keep_above`` keeps those at or above
the PipelineParameter ``threshold`` (PipelineData ``kept``); report.py summarises them.
"""

import os

from amlflow.core import Workspace
from amlflow.core.compute import ComputeTarget, DatabricksCompute
from amlflow.exceptions import ComputeTargetException
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import DatabricksStep, PythonScriptStep

ws = Workspace.from_config()
databricks_compute_name = os.environ.get("AML_DATABRICKS_COMPUTE_NAME", "dbxpipeline")
try:
    databricks_compute = ComputeTarget(workspace=ws, name=databricks_compute_name)
except ComputeTargetException:
    attach_config = DatabricksCompute.attach_configuration(
        resource_group=os.environ.get("AML_DATABRICKS_RESOURCE_GROUP", "<databricks_resource_group>"),
        workspace_name=os.environ.get("AML_DATABRICKS_WORKSPACE", "<databricks_workspace_name>"),
        access_token=os.environ.get("AML_DATABRICKS_ACCESS_TOKEN", "<databricks_access_token>"),
    )
    databricks_compute = ComputeTarget.attach(ws, databricks_compute_name, attach_config)
    databricks_compute.wait_for_completion(True)

raw = PipelineData("raw")
kept = PipelineData("kept")
summary = PipelineData("summary")
threshold = PipelineParameter(name="threshold", default_value=5)

source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "databricks_pipeline")
prepare = PythonScriptStep(
    script_name="prepare.py", arguments=["--out", raw], outputs=[raw], source_directory=source, allow_reuse=False
)
keep = DatabricksStep(
    name="keep_above",
    inputs=[raw],
    outputs=[kept],
    num_workers=1,
    notebook_path="/Shared/keep_above",
    notebook_params={"threshold": threshold, "label": "demo"},
    run_name="keep numbers above the threshold",
    compute_target=databricks_compute,
    allow_reuse=False,
)
report = PythonScriptStep(
    script_name="report.py",
    arguments=["--kept", kept, "--out", summary],
    inputs=[kept],
    outputs=[summary],
    source_directory=source,
    allow_reuse=False,
)
pipeline = Pipeline(workspace=ws, steps=[report])
dag = pipeline.as_dag("databricks_pipeline", default_args={"polling_period_seconds": 1})
