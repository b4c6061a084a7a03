"""The seed's pipeline: train -> extract -> compare, joined by PipelineData, with a PipelineParameter.

This file is Azure ML SDK v1 code with ``azureml.`` replaced by ``amlflow.`` in its imports. Its input
data is made and uploaded by ``compare_models/upload_data.py`` (``make demo`` runs it), as the seed's
``upload_files`` call does.
"""

import os

from amlflow.core import Datastore, Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import PythonScriptStep

project_folder = os.path.join(os.path.dirname(__file__), "compare_models")

ws = Workspace.from_config()
def_blob_store = Datastore(ws, "workspaceblobstore")

blob_input_data = DataReference(
    datastore=def_blob_store,
    data_reference_name="test_data",
    path_on_datastore="20newsgroups/20news.csv",
)
processed_data1 = PipelineData("processed_data1", datastore=def_blob_store)
processed_data2 = PipelineData("processed_data2", datastore=def_blob_store)
out_data3 = PipelineData("out_data3", datastore=def_blob_store)

compute_name = "aml-compute"
if compute_name in ws.compute_targets:
    compute_target = ws.compute_targets[compute_name]
else:
    provisioning_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", min_nodes=1, max_nodes=4)
    compute_target = ComputeTarget.create(ws, compute_name, provisioning_config)
    compute_target.wait_for_completion(show_output=False, min_node_count=None, timeout_in_minutes=20)

pipeline_param = PipelineParameter(name="pipeline_arg", default_value=10)

trainStep = PythonScriptStep(
    script_name="train.py",
    arguments=["--input", blob_input_data, "--output", processed_data1],
    inputs=[blob_input_data],
    outputs=[processed_data1],
    compute_target=compute_target,
    source_directory=project_folder,
)
extractStep = PythonScriptStep(
    script_name="extract.py",
    arguments=[
        "--input_data",
        blob_input_data,
        "--models",
        processed_data1,
        "--output_extract",
        processed_data2,
    ],
    inputs=[blob_input_data, processed_data1],
    outputs=[processed_data2],
    compute_target=compute_target,
    source_directory=project_folder,
)
compareStep = PythonScriptStep(
    script_name="compare.py",
    arguments=[
        "--comp_data1",
        processed_data1,
        "--comp_data2",
        processed_data2,
        "--output_data",
        out_data3,
        "--param1",
        pipeline_param,
    ],
    inputs=[processed_data1, processed_data2],
    outputs=[out_data3],
    compute_target=compute_target,
    source_directory=project_folder,
)

pipeline1 = Pipeline(workspace=ws, steps=[compareStep])
published_pipeline1 = pipeline1.publish(
    name="Compare_Models",
    description="Train two models on the 20news sample, score them, and compare the scores.",
)
