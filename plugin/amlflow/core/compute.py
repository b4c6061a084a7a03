"""Compute targets. In amlflow a compute target is a name: an Airflow pool and queue of that name.

The seed's AmlCompute code (``provisioning_configuration``, ``ComputeTarget.create``,
``wait_for_completion``, ``ws.compute_targets``) runs unchanged and provisions nothing. Steps on an
AmlCompute target run in an Airflow worker, in the pool named after the target (``max_nodes`` slots) and
in the queue of that name, so a Celery deployment can route them. ``amlflow pools sync`` creates the
pools at deploy time; parsing a DAG file never does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from amlflow.core.workspace import Workspace
from amlflow.exceptions import ComputeTargetException

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,31}$")


class ComputeTarget:
    """A compute target known to a workspace. ``ComputeTarget(ws, name)`` finds one or raises."""

    type = "Unknown"

    def __new__(cls, workspace: Workspace, name: str, *args: Any, **kwargs: Any):
        if cls is ComputeTarget:
            try:
                return workspace._compute_targets[name]
            except KeyError:
                raise ComputeTargetException(f"ComputeTargetNotFound: compute target {name!r} is not known") from None
        return super().__new__(cls)

    def __init__(self, workspace: Workspace, name: str, configuration: Any = None) -> None:
        if getattr(self, "_initialized", False):
            return  # ComputeTarget(ws, name) found an existing target: Python calls __init__ on it again.
        self._initialized = True
        self.workspace = workspace
        self.name = name
        self.provisioning_state = "Succeeded"
        self._configure(configuration)

    def _configure(self, configuration: Any) -> None:
        """Take what a provisioning or attach configuration says; each kind of target knows its own."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @staticmethod
    def create(workspace: Workspace, name: str, provisioning_configuration: ComputeTargetProvisioningConfiguration):
        if not _NAME.match(name):
            raise ComputeTargetException(
                f"compute target name {name!r} is invalid: 2 to 32 letters, digits or dashes, starting with a letter"
            )
        target = provisioning_configuration.target_class(workspace, name, provisioning_configuration)
        workspace._register_compute(target)
        return target

    def wait_for_completion(self, show_output: bool = False, **kwargs: Any) -> None:
        if show_output:
            print(f"{self.name}: {self.provisioning_state}")

    @property
    def status(self) -> ComputeStatus:
        return ComputeStatus(self.provisioning_state)

    def get_status(self) -> ComputeStatus:
        return self.status

    def delete(self) -> None:
        self.workspace._compute_targets.pop(self.name, None)

    def detach(self) -> None:
        self.delete()

    def task_placement(self) -> dict[str, Any]:
        """Operator arguments that place a step of this target (pool, queue), and what its pool needs."""
        return {"queue": self.name}


@dataclass
class ComputeStatus:
    provisioning_state: str

    def serialize(self) -> dict[str, str]:
        return {"provisioningState": self.provisioning_state}


@dataclass
class ComputeTargetProvisioningConfiguration:
    target_class: type


@dataclass
class AmlComputeProvisioningConfiguration(ComputeTargetProvisioningConfiguration):
    vm_size: str = ""
    vm_priority: str = "dedicated"
    min_nodes: int = 0
    max_nodes: int = 4
    idle_seconds_before_scaledown: int | None = None


class AmlCompute(ComputeTarget):
    """A cluster in Azure ML; here, up to ``max_nodes`` steps at once in the pool of the same name."""

    type = "AmlCompute"

    def _configure(self, configuration: AmlComputeProvisioningConfiguration | None) -> None:
        config = configuration or AmlComputeProvisioningConfiguration(AmlCompute)
        self.vm_size = config.vm_size
        self.min_nodes = config.min_nodes
        self.max_nodes = config.max_nodes

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int = 0,
        max_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
        **kwargs: Any,
    ) -> AmlComputeProvisioningConfiguration:
        if max_nodes is not None and max_nodes < 1:
            raise ComputeTargetException(f"max_nodes must be at least 1, got {max_nodes}")
        if max_nodes is not None and min_nodes > max_nodes:
            raise ComputeTargetException(f"min_nodes ({min_nodes}) is greater than max_nodes ({max_nodes})")
        return AmlComputeProvisioningConfiguration(
            AmlCompute, vm_size, vm_priority, min_nodes, max_nodes or 4, idle_seconds_before_scaledown
        )

    def task_placement(self) -> dict[str, Any]:
        return {"queue": self.name, "pool": self.name, "pool_slots_total": self.max_nodes}


def resolve_compute(workspace: Workspace | None, compute: Any) -> ComputeTarget | None:
    """A step's ``compute_target`` (object, name or ``(name, type)`` tuple) as a target, or None for local."""
    if compute is None or isinstance(compute, ComputeTarget):
        return compute
    if isinstance(compute, tuple):
        compute = compute[0]
    if compute == "local":
        return None
    if workspace is not None and compute in workspace._compute_targets:
        return workspace._compute_targets[compute]
    # A target created elsewhere (another notebook, the studio): a cluster of that name with default size.
    placeholder = Workspace() if workspace is None else workspace
    return AmlCompute(placeholder, compute)
