"""Workspaces, datastores, compute targets and ``Run`` (metrics of a step), as in ``azureml.core``."""

from amlflow.core.compute import ComputeTarget
from amlflow.core.datastore import Datastore
from amlflow.core.run import Run
from amlflow.core.workspace import Workspace

__all__ = ["ComputeTarget", "Datastore", "Run", "Workspace"]
