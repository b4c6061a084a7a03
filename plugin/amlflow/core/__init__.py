"""Workspaces, datastores, compute targets and ``Run`` (metrics of a step), as in ``azureml.core``."""

from amlflow import __version__ as VERSION
from amlflow.core.authentication import (
    AirflowTokenAuthentication,
    InteractiveLoginAuthentication,
    ServicePrincipalAuthentication,
)
from amlflow.core.compute import ComputeTarget
from amlflow.core.dataset import Dataset
from amlflow.core.datastore import Datastore
from amlflow.core.environment import Environment
from amlflow.core.experiment import Experiment
from amlflow.core.model import Model
from amlflow.core.run import Run
from amlflow.core.runconfig import RunConfiguration
from amlflow.core.script_run_config import ScriptRunConfig
from amlflow.core.workspace import Workspace

__all__ = [
    "VERSION",
    "AirflowTokenAuthentication",
    "ComputeTarget",
    "Dataset",
    "Datastore",
    "Environment",
    "Experiment",
    "InteractiveLoginAuthentication",
    "Model",
    "Run",
    "RunConfiguration",
    "ScriptRunConfig",
    "ServicePrincipalAuthentication",
    "Workspace",
]
