"""Pipelines, intermediate data and parameters, as in ``azureml.pipeline.core``."""

from amlflow.pipeline.core._source import dag_file
from amlflow.pipeline.core.builder import InputPortBinding, PipelineData, PipelineStep, StepSequence
from amlflow.pipeline.core.graph import PipelineParameter, PublishedPipeline
from amlflow.pipeline.core.pipeline import Pipeline
from amlflow.pipeline.core.run import PipelineRun, PortDataReference, StepRun

__all__ = [
    "InputPortBinding",
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PipelineRun",
    "PipelineStep",
    "PortDataReference",
    "PublishedPipeline",
    "StepRun",
    "StepSequence",
    "dag_file",
]
