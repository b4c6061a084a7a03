"""Step kinds, as in ``azureml.pipeline.steps``."""

from amlflow.pipeline.steps.databricks_step import DatabricksStep
from amlflow.pipeline.steps.python_script_step import PythonScriptStep

__all__ = ["DatabricksStep", "PythonScriptStep"]
