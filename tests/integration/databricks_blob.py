"""A DatabricksStep whose data is on an Azure Blob datastore (``dbxblobstore``): it gets ``wasbs://`` URIs.

The notebook ``/Shared/upper`` reads the DataReference ``table`` and writes PipelineData ``upper`` on blob;
count.py (a local step) reads that output back from blob. The workspace is the existing connection
``dbxtests`` (no attach call).
"""

import os

from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import DatabricksStep, PythonScriptStep

ws = Workspace()
blob = Datastore(ws, "dbxblobstore")
table = DataReference(blob, data_reference_name="table", path_on_datastore="inputs/table.csv")
upper = PipelineData("upper", datastore=blob)
counted = PipelineData("counted", datastore=blob)
notebook = DatabricksStep(
    name="upper",
    inputs=[table],
    outputs=[upper],
    num_workers=1,
    notebook_path="/Shared/upper",
    compute_target="dbxtests",
    allow_reuse=False,
)
count = PythonScriptStep(
    script_name="count.py",
    arguments=["--upper", upper, "--out", counted],
    inputs=[upper],
    outputs=[counted],
    source_directory=os.path.join(os.path.dirname(os.path.abspath(__file__)), "databricks_blob"),
    allow_reuse=False,
)
dag = Pipeline(ws, [count]).as_dag("databricks_blob", default_args={"polling_period_seconds": 1})
