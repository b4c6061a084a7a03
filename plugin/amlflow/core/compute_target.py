"""``azureml.core.compute_target``'s names: where Azure ML's samples import ``ComputeTargetException`` from."""

from amlflow.core.compute import ComputeTarget
from amlflow.exceptions import ComputeTargetException

__all__ = ["ComputeTarget", "ComputeTargetException"]
