"""Workspaces, datastores and compute targets, as in ``azureml.core``."""

from amlflow.core.compute import ComputeTarget
from amlflow.core.datastore import Datastore
from amlflow.core.workspace import Workspace

__all__ = ["ComputeTarget", "Datastore", "Workspace"]
