"""Pipelines, intermediate data and parameters, as in ``azureml.pipeline.core``."""

from amlflow.pipeline.core._source import dag_file
from amlflow.pipeline.core.builder import InputPortBinding, PipelineData, PipelineStep, StepSequence
from amlflow.pipeline.core.graph import PipelineParameter, PublishedPipeline
from amlflow.pipeline.core.pipeline import Pipeline
from amlflow.pipeline.core.pipeline_draft import PipelineDraft
from amlflow.pipeline.core.pipeline_endpoint import PipelineEndpoint, PipelineIdVersion, PipelineVersion
from amlflow.pipeline.core.run import PipelineRun, PortDataReference, StepRun
from amlflow.pipeline.core.schedule import Schedule, ScheduleRecurrence
from amlflow.pipeline.core.time_zone import TimeZone

__all__ = [
    "InputPortBinding",
    "Pipeline",
    "PipelineData",
    "PipelineDraft",
    "PipelineEndpoint",
    "PipelineIdVersion",
    "PipelineParameter",
    "PipelineRun",
    "PipelineStep",
    "PipelineVersion",
    "PortDataReference",
    "PublishedPipeline",
    "Schedule",
    "ScheduleRecurrence",
    "StepRun",
    "StepSequence",
    "TimeZone",
    "dag_file",
]
