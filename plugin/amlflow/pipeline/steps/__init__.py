"""Step kinds, as in ``azureml.pipeline.steps``."""

from amlflow.pipeline.steps.adla_step import AdlaStep
from amlflow.pipeline.steps.command_step import CommandStep
from amlflow.pipeline.steps.data_transfer_step import DataTransferStep
from amlflow.pipeline.steps.databricks_step import DatabricksStep
from amlflow.pipeline.steps.parallel_run_config import ParallelRunConfig
from amlflow.pipeline.steps.parallel_run_step import ParallelRunStep
from amlflow.pipeline.steps.python_script_step import PythonScriptStep

__all__ = [
    "AdlaStep",
    "CommandStep",
    "DataTransferStep",
    "DatabricksStep",
    "ParallelRunConfig",
    "ParallelRunStep",
    "PythonScriptStep",
]
