"""DatabricksSteps for the stack tests: one DAG per behaviour, all on the compute target ``dbxcases``.

- ``databricks_entry_points``: the four entry points (notebook, DBFS script, uploaded script, JAR), with
  Azure ML's cluster and library parameters, a DataReference input, a PipelineParameter and an output;
- ``databricks_hold``: four runs that never end, beside a local step (the worker slots stay free);
- ``databricks_timeout``: a run that never ends under a 3 s task timeout;
- ``databricks_failure``: a notebook that fails.
"""

import os
from datetime import timedelta

from amlflow.core import Datastore, Workspace
from amlflow.core.compute import ComputeTarget, DatabricksCompute
from amlflow.core.databricks import MavenLibrary, PyPiLibrary
from amlflow.data.data_reference import DataReference
from amlflow.exceptions import ComputeTargetException
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import DatabricksStep, PythonScriptStep

ws = Workspace.from_config()
try:
    compute = ComputeTarget(workspace=ws, name="dbxcases")
except ComputeTargetException:
    compute = ComputeTarget.attach(
        ws,
        "dbxcases",
        DatabricksCompute.attach_configuration(
            resource_group="rg-tests",
            workspace_name="dbx-tests",
            access_token=os.environ.get("AML_DATABRICKS_ACCESS_TOKEN", "<databricks_access_token>"),
        ),
    )
FAST = {"polling_period_seconds": 1}
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "databricks_cases")

# -- the four entry points ---------------------------------------------------------------------------
alpha = PipelineParameter(name="alpha", default_value=0.5)
table = DataReference(Datastore(ws), data_reference_name="table", path_on_datastore="databricks-inputs/table.csv")
scores = PipelineData("scores")
notebook = DatabricksStep(
    name="notebook",
    inputs=[table],
    num_workers=2,
    spark_conf={"spark.speculation": "true"},
    notebook_path="/Shared/entry_notebook",
    notebook_params={"alpha": alpha, "mode": "full"},
    pypi_libraries=[PyPiLibrary(package="scikit-learn==1.5.0")],
    maven_libraries=[MavenLibrary(coordinates="com.microsoft.azure:azure-eventhubs-spark_2.12:2.3.22")],
    compute_target=compute,
    allow_reuse=False,
)
script = DatabricksStep(
    name="dbfs_script",
    inputs=[table],
    existing_cluster_id="0101-120000-abcd123",
    permit_cluster_restart=False,
    python_script_path="dbfs:/scripts/train.py",
    python_script_params=[alpha],  # as in Azure ML, the script gets "--ALPHA <value>"
    compute_target=compute,
    allow_reuse=False,
)
uploaded = DatabricksStep(
    name="uploaded_script",
    outputs=[scores],
    min_workers=1,
    max_workers=3,
    python_script_name="score.py",
    source_directory=here,
    python_script_params=["--mode", "fast"],
    run_name="score with the uploaded script",
    compute_target="dbxcases",
    allow_reuse=False,
)
jar = DatabricksStep(
    name="jar",
    inputs=[scores],
    instance_pool_id="pool-0101",
    num_workers=1,
    main_class_name="com.example.Aggregate",
    jar_params=[alpha],
    jar_libraries=["dbfs:/jars/aggregate.jar"],
    timeout_seconds=600,
    compute_target=compute,
    allow_reuse=False,
)
Pipeline(ws, [notebook, script, jar]).as_dag("databricks_entry_points", default_args=FAST)


# -- runs that never end, beside a local step ---------------------------------------------------------
def hold(n: int) -> DatabricksStep:
    return DatabricksStep(
        name=f"hold_{n}", num_workers=1, notebook_path="/Shared/forever", compute_target=compute, allow_reuse=False
    )


local = PythonScriptStep(script_name="local.py", source_directory=here, allow_reuse=False)
Pipeline(ws, [hold(1), hold(2), hold(3), hold(4), local]).as_dag("databricks_hold", default_args=FAST)

# -- a task timeout while the run goes on ------------------------------------------------------------
timed = DatabricksStep(
    name="timed", num_workers=1, notebook_path="/Shared/forever", compute_target=compute, allow_reuse=False
)
Pipeline(ws, [timed]).as_dag("databricks_timeout", default_args={**FAST, "execution_timeout": timedelta(seconds=3)})

# -- a failing notebook -----------------------------------------------------------------------------
failing = DatabricksStep(
    name="failing", num_workers=1, notebook_path="/Shared/failing", compute_target=compute, allow_reuse=False
)
Pipeline(ws, [failing]).as_dag("databricks_failure", default_args=FAST)

# -- reuse: an unchanged notebook and DBFS script run once ---------------------------------------------
reused_notebook = DatabricksStep(
    name="reused_notebook", num_workers=1, notebook_path="/Shared/reused", compute_target=compute
)
reused_script = DatabricksStep(
    name="reused_script", num_workers=1, python_script_path="dbfs:/scripts/reused.py", compute_target=compute
)
Pipeline(ws, [reused_notebook, reused_script]).as_dag("databricks_reuse", default_args=FAST)
