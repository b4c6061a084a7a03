"""A three-step pipeline for the asset tests: a DataReference in, an output dataset registered at the end.

``Lineage_Steps``: ``prepare.py`` reads the DataReference ``raw`` and writes ``prepared`` (PipelineData);
``train.py`` reads it and writes ``model`` (an OutputFileDatasetConfig); ``score.py`` reads both and
writes ``scores``, registered as the dataset ``lineage_scores``. The parameter ``fail`` makes ``score.py``
exit with an error after writing its output, so a test can see that a failed step publishes nothing.
"""

from amlflow.core import Datastore, Workspace
from amlflow.data import OutputFileDatasetConfig
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
raw = DataReference(store, data_reference_name="raw", path_on_datastore="lineage/raw.txt")
prepared = PipelineData("prepared", datastore=store)
model = OutputFileDatasetConfig(name="model")
scores = OutputFileDatasetConfig(name="scores", destination=(store, "lineage/scores/{run-id}")).register_on_complete(
    "lineage_scores"
)
fail = PipelineParameter(name="fail", default_value=0)
prepare = PythonScriptStep(
    "prepare.py",
    arguments=["--raw", raw, "--out", prepared],
    inputs=[raw],
    outputs=[prepared],
    source_directory="lineage_pipeline",
    allow_reuse=False,
)
train = PythonScriptStep(
    "train.py",
    arguments=["--prepared", prepared, "--out", model],
    inputs=[prepared],
    source_directory="lineage_pipeline",
    allow_reuse=False,
)
score = PythonScriptStep(
    "score.py",
    arguments=["--prepared", prepared, "--model", model.as_input(), "--out", scores, "--fail", fail],
    inputs=[prepared],
    source_directory="lineage_pipeline",
    allow_reuse=False,
)
Pipeline(ws, [score]).publish(name="Lineage_Steps")
