"""amlflow: Azure Machine Learning (SDK v1) style pipelines on Apache Airflow.

A pipeline ported from ``azureml`` keeps its code; only ``azureml.`` becomes ``amlflow.`` in its imports::

    from amlflow.core import Workspace, Datastore
    from amlflow.data.data_reference import DataReference
    from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
    from amlflow.pipeline.steps import PythonScriptStep

The names below are also importable from ``amlflow`` itself. They load on first use: every Airflow
component imports this package (through the XCom backend), so it imports nothing heavy up front.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Workspace": "amlflow.core.workspace",
    "Datastore": "amlflow.core.datastore",
    "ComputeTarget": "amlflow.core.compute",
    "Run": "amlflow.core.run",
    "Experiment": "amlflow.core.experiment",
    "AirflowTokenAuthentication": "amlflow.core.authentication",
    "InteractiveLoginAuthentication": "amlflow.core.authentication",
    "ServicePrincipalAuthentication": "amlflow.core.authentication",
    "AmlCompute": "amlflow.core.compute",
    "AdlaCompute": "amlflow.core.compute",
    "DatabricksCompute": "amlflow.core.compute",
    "DataFactoryCompute": "amlflow.core.compute",
    "DockerCompute": "amlflow.core.compute",
    "Environment": "amlflow.core.environment",
    "RunConfiguration": "amlflow.core.runconfig",
    "ScriptRunConfig": "amlflow.core.script_run_config",
    "DataReference": "amlflow.data.data_reference",
    "Pipeline": "amlflow.pipeline.core.pipeline",
    "PipelineData": "amlflow.pipeline.core.builder",
    "PipelineParameter": "amlflow.pipeline.core.graph",
    "PublishedPipeline": "amlflow.pipeline.core.graph",
    "PipelineRun": "amlflow.pipeline.core.run",
    "StepRun": "amlflow.pipeline.core.run",
    "StepSequence": "amlflow.pipeline.core.builder",
    "PythonScriptStep": "amlflow.pipeline.steps.python_script_step",
    "CommandStep": "amlflow.pipeline.steps.command_step",
    "DatabricksStep": "amlflow.pipeline.steps.databricks_step",
    "AdlaStep": "amlflow.pipeline.steps.adla_step",
    "DataTransferStep": "amlflow.pipeline.steps.data_transfer_step",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'amlflow' has no attribute {name!r}")
