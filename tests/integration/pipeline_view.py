"""A pipeline for the pipeline view's tests: ``score`` logs every kind of metric, ``report`` reads its output."""

from amlflow.core import Workspace
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
factor = PipelineParameter(name="factor", default_value=2)
scores = PipelineData("scores")
score = PythonScriptStep(
    "score.py",
    name="score",
    arguments=["--factor", factor, "--out", scores],
    outputs=[scores],
    source_directory="pipeline_view",
)
report = PythonScriptStep(
    "report.py",
    name="report",
    arguments=["--scores", scores],
    inputs=[scores],
    source_directory="pipeline_view",
    allow_reuse=False,
)
Pipeline(ws, [report]).publish(name="pipeline_view", description="Scores and a report of them, for the pipeline view.")
