"""Compute targets. In amlflow a compute target is a name: an Airflow pool and queue of that name.

The seed's AmlCompute code (``provisioning_configuration``, ``ComputeTarget.create``,
``wait_for_completion``, ``ws.compute_targets``) runs unchanged and provisions nothing. Steps on an
AmlCompute target run in an Airflow worker, in the pool named after the target (``max_nodes`` slots) and
in the queue of that name, so a Celery deployment can route them. ``amlflow pools sync`` creates the
pools at deploy time; parsing a DAG file never does.

The seed's Databricks code (``DatabricksCompute.attach_configuration``, ``ComputeTarget.attach``) also
runs unchanged at the top of a DAG file: attaching only records the target. Its Airflow ``databricks``
connection (id = the target's name, the token as its password) is written by ``amlflow computes sync``
at deploy time; a connection that already exists is used as is, with or without an attach call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from amlflow.core.workspace import Workspace
from amlflow.exceptions import ComputeTargetException

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,31}$")

#: Targets attached in this process, by name: what ``amlflow computes sync`` turns into connections.
_attached: dict[str, ComputeTarget] = {}


class ComputeTarget:
    """A compute target known to a workspace. ``ComputeTarget(ws, name)`` finds one or raises."""

    type = "Unknown"

    def __new__(cls, workspace: Workspace, name: str, *args: Any, **kwargs: Any):
        """``ComputeTarget(ws, name)`` and ``AmlCompute(ws, name)`` find an existing target, as in Azure ML.

        Found: one the workspace object created or attached; else, from a notebook whose workspace names
        a deployment, one the deployment has (``amlflow.api.computes``). Not found: Azure ML's
        ComputeTargetException, so the samples' "get, else create" runs its create branch. In a DAG file
        (nothing may be looked up there) ``AmlCompute(ws, name)`` names a target as it is.
        With a configuration (``create``/``attach``) a new target is made.
        """
        if args or "configuration" in kwargs:
            return super().__new__(cls)
        known = workspace._compute_targets.get(name)
        if known is not None and isinstance(known, cls):
            return known
        found = _on_deployment(workspace, name)
        if found:
            target = _from_deployment(workspace, found)
            if isinstance(target, cls):
                return target
            raise ComputeTargetException(f"compute target {name!r} is a {type(target).__name__}, not a {cls.__name__}")
        if found is False or cls is ComputeTarget:
            raise ComputeTargetException(
                f"ComputeTargetNotFound: Compute Target with name {name} not found in provided workspace"
            )
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
        """Record a new compute target of ``workspace`` from a provisioning configuration; nothing is provisioned."""
        if not _NAME.match(name):
            raise ComputeTargetException(
                f"compute target name {name!r} is invalid: 2 to 32 letters, digits or dashes, starting with a letter"
            )
        target = provisioning_configuration.target_class(workspace, name, provisioning_configuration)
        workspace._register_compute(target)
        return target

    @staticmethod
    def attach(workspace: Workspace, name: str, attach_configuration: ComputeTargetAttachConfiguration):
        """Record an existing resource as a compute target of ``workspace``; nothing is contacted or written.

        Azure ML registers the resource with the workspace service here. In amlflow the registration is
        an Airflow connection named after the target, written at deploy time by ``amlflow computes sync``
        (never while a DAG file is parsed), so the seed's attach code can run at the top of a DAG file.
        """
        if not _NAME.match(name):
            raise ComputeTargetException(
                f"compute target name {name!r} is invalid: 2 to 32 letters, digits or dashes, starting with a letter"
            )
        target = attach_configuration.target_class(workspace, name, attach_configuration)
        workspace._register_compute(target)
        _attached[name] = target
        return target

    def wait_for_completion(self, show_output: bool = False, **kwargs: Any) -> None:
        """Return at once: there is nothing to provision (``show_output`` prints the state)."""
        if show_output:
            print(f"{self.name}: {self.provisioning_state}")

    @property
    def status(self) -> ComputeStatus:
        """The target's provisioning state, as a ComputeStatus."""
        return ComputeStatus(self.provisioning_state)

    def get_status(self) -> ComputeStatus:
        """The target's status (the same as ``status``)."""
        return self.status

    def delete(self) -> None:
        """Forget the target in this workspace object; nothing on the deployment is removed."""
        self.workspace._compute_targets.pop(self.name, None)

    def detach(self) -> None:
        """Forget the target, as ``delete`` does."""
        self.delete()

    def task_placement(self) -> dict[str, Any]:
        """Operator arguments that place a step of this target (pool, queue), and what its pool needs."""
        return {"queue": self.name}


@dataclass
class ComputeStatus:
    """A compute target's status: its provisioning state."""

    provisioning_state: str

    def serialize(self) -> dict[str, str]:
        """The status as Azure ML's JSON (``provisioningState``)."""
        return {"provisioningState": self.provisioning_state}


@dataclass
class ComputeTargetProvisioningConfiguration:
    """What ``ComputeTarget.create`` needs: the class of target it makes."""

    target_class: type


@dataclass
class AmlComputeProvisioningConfiguration(ComputeTargetProvisioningConfiguration):
    """What ``ComputeTarget.create`` needs for an AmlCompute; here only ``max_nodes`` counts (the pool's slots)."""

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
        """The configuration ``ComputeTarget.create`` takes for a cluster; checks the node counts as Azure ML does."""
        if max_nodes is not None and max_nodes < 1:
            raise ComputeTargetException(f"max_nodes must be at least 1, got {max_nodes}")
        if max_nodes is not None and min_nodes > max_nodes:
            raise ComputeTargetException(f"min_nodes ({min_nodes}) is greater than max_nodes ({max_nodes})")
        return AmlComputeProvisioningConfiguration(
            AmlCompute, vm_size, vm_priority, min_nodes, max_nodes or 4, idle_seconds_before_scaledown
        )

    def task_placement(self) -> dict[str, Any]:
        """The queue and pool named after the target, with ``max_nodes`` slots."""
        return {"queue": self.name, "pool": self.name, "pool_slots_total": self.max_nodes}


@dataclass
class ComputeTargetAttachConfiguration:
    """What ``ComputeTarget.attach`` needs: the class of target it makes."""

    target_class: type


@dataclass(repr=False)
class DatabricksAttachConfiguration(ComputeTargetAttachConfiguration):
    """What ``ComputeTarget.attach`` needs for a Databricks workspace; ``repr`` hides the access token."""

    resource_group: str | None = None
    workspace_name: str | None = None
    access_token: str | None = None
    workspace_url: str | None = None

    def __repr__(self) -> str:  # the token never reaches a log or a traceback through repr
        return (
            f"DatabricksAttachConfiguration(resource_group={self.resource_group!r}, "
            f"workspace_name={self.workspace_name!r}, workspace_url={self.workspace_url!r}, access_token=***)"
        )


class DatabricksCompute(ComputeTarget):
    """An Azure Databricks workspace; here, the Airflow ``databricks`` connection of the same id.

    ``DatabricksCompute(ws, name)`` names a workspace whose connection already exists (no attach
    needed). Steps on it run on Databricks; the Airflow side only submits and, while deferred, the
    triggerer watches, so it takes no pool or queue.
    """

    type = "Databricks"

    def _configure(self, configuration: DatabricksAttachConfiguration | None) -> None:
        self._attach_configuration = configuration
        self.resource_group = configuration.resource_group if configuration else None
        self.workspace_name = configuration.workspace_name if configuration else None

    @staticmethod
    def attach_configuration(
        resource_group: str | None = None,
        workspace_name: str | None = None,
        resource_id: str | None = None,
        access_token: str = "",
        workspace_url: str | None = None,
    ) -> DatabricksAttachConfiguration:
        """What ``ComputeTarget.attach`` needs. ``workspace_url`` (amlflow's) is the workspace's address,
        e.g. ``https://adb-123.4.azuredatabricks.net``; Azure ML found it from the resource group and name,
        which amlflow cannot look up without Azure credentials (``amlflow computes sync --host`` gives it too).
        """
        if resource_id:
            parts = resource_id.strip("/").split("/")
            fields = dict(zip(parts[::2], parts[1::2], strict=False))
            resource_group = resource_group or fields.get("resourceGroups")
            workspace_name = workspace_name or fields.get("workspaces")
        if not access_token:
            raise ComputeTargetException("DatabricksCompute.attach_configuration: access_token is required")
        return DatabricksAttachConfiguration(
            DatabricksCompute, resource_group, workspace_name, access_token, workspace_url
        )

    @property
    def databricks_conn_id(self) -> str:
        """The id of the Airflow ``databricks`` connection the steps use: the target's name."""
        return self.name

    def task_placement(self) -> dict[str, Any]:
        """Nothing: a Databricks step runs on the cluster, so it takes no pool or queue of its own."""
        return {}


@dataclass
class DockerAttachConfiguration(ComputeTargetAttachConfiguration):
    """What ``ComputeTarget.attach`` needs for a Docker engine: its URL or connection, how many steps at once, the
    network.
    """

    docker_url: str | None = None
    docker_conn_id: str | None = None
    max_nodes: int = 4
    network_mode: str | None = None


class DockerCompute(ComputeTarget):
    """A Docker engine (amlflow's; Azure ML ran every step in Docker): each step runs in a container.

    The container runs on the engine at ``docker_url`` (None: ``DOCKER_HOST``, else the local socket),
    from the image of the step's environment (``amlflow.core.environment``), with at most ``max_nodes``
    steps at once: the pool and queue named after the target, as for an AmlCompute. ``docker_conn_id``
    is the Airflow ``docker`` connection holding registry credentials, for images that need a login.
    """

    type = "Docker"

    def _configure(self, configuration: DockerAttachConfiguration | None) -> None:
        config = configuration or DockerAttachConfiguration(DockerCompute)
        self.docker_url = config.docker_url
        self.docker_conn_id = config.docker_conn_id
        self.max_nodes = config.max_nodes
        self.network_mode = config.network_mode

    @staticmethod
    def attach_configuration(
        docker_url: str | None = None,
        docker_conn_id: str | None = None,
        max_nodes: int = 4,
        network_mode: str | None = None,
    ) -> DockerAttachConfiguration:
        """What ``ComputeTarget.attach`` needs; nothing is contacted until a step runs."""
        if max_nodes < 1:
            raise ComputeTargetException(
                f"DockerCompute.attach_configuration: max_nodes must be at least 1, got {max_nodes}"
            )
        return DockerAttachConfiguration(DockerCompute, docker_url, docker_conn_id, max_nodes, network_mode)

    def task_placement(self) -> dict[str, Any]:
        """The queue and pool named after the target, with ``max_nodes`` slots."""
        return {"queue": self.name, "pool": self.name, "pool_slots_total": self.max_nodes}


@dataclass
class AdlaAttachConfiguration(ComputeTargetAttachConfiguration):
    """What ``ComputeTarget.attach`` needs for a Data Lake Analytics account."""

    resource_group: str | None = None
    account_name: str | None = None


class AdlaCompute(ComputeTarget):
    """An Azure Data Lake Analytics account (retired by Microsoft on 2024-02-29; see the README).

    Attaching records the account; the service principal that submits jobs is the Airflow connection
    (type ``amlflow_adla``) whose id is the target's name, read by ``AdlaHook`` when a step runs. Steps
    only submit and, deferred, wait in the triggerer, so they take no pool or queue.
    """

    type = "DataLakeAnalytics"

    def _configure(self, configuration: AdlaAttachConfiguration | None) -> None:
        self.resource_group = configuration.resource_group if configuration else None
        #: None: the connection's ``account_name`` extra says which account
        self.account_name = configuration.account_name if configuration else None
        #: Nothing is provisioned when a target is attached (the samples print both).
        self.provisioning_errors: list[Any] | None = None

    @property
    def cluster_resource_id(self) -> str | None:
        """The account's Azure resource id, from the workspace's subscription and the attach settings."""
        if not (self.account_name and self.resource_group):
            return None
        subscription = getattr(self.workspace, "subscription_id", "") or "<subscription>"
        return (
            f"/subscriptions/{subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.DataLakeAnalytics/accounts/{self.account_name}"
        )

    @staticmethod
    def attach_configuration(
        resource_group: str | None = None, account_name: str | None = None, resource_id: str | None = None
    ) -> AdlaAttachConfiguration:
        """What ``ComputeTarget.attach`` needs: the account, by name or by its Azure resource id."""
        if resource_id:
            parts = resource_id.strip("/").split("/")
            fields = dict(zip(parts[::2], parts[1::2], strict=False))
            resource_group = resource_group or fields.get("resourceGroups")
            account_name = account_name or fields.get("accounts")
        if not account_name:
            raise ComputeTargetException("AdlaCompute.attach_configuration: account_name or resource_id is required")
        return AdlaAttachConfiguration(AdlaCompute, resource_group, account_name)

    @property
    def adla_conn_id(self) -> str:
        """The id of the Airflow connection the ADLA steps use: the target's name."""
        return self.name

    def task_placement(self) -> dict[str, Any]:
        """Nothing: an ADLA job runs in the account, so it takes no pool or queue of its own."""
        return {}


@dataclass
class DataFactoryProvisioningConfiguration(ComputeTargetProvisioningConfiguration):
    """What ``ComputeTarget.create`` needs for a Data Factory (its ``location``)."""

    location: str | None = None


@dataclass
class DataFactoryAttachConfiguration(ComputeTargetAttachConfiguration):
    """What ``ComputeTarget.attach`` needs for an existing Data Factory."""

    resource_group: str | None = None
    factory_name: str | None = None


class DataFactoryCompute(ComputeTarget):
    """An Azure Data Factory, the compute of DataTransferStep; here the Airflow worker does the copy.

    Provisioning or attaching records the name only: blob-to-blob copies run server-side in Azure
    Storage and other copies stream through the worker, so no connection or pool is needed.
    """

    type = "DataFactory"

    def _configure(self, configuration: Any) -> None:
        self.resource_group = getattr(configuration, "resource_group", None)
        self.factory_name = getattr(configuration, "factory_name", None) or self.name

    @staticmethod
    def provisioning_configuration(location: str | None = None) -> DataFactoryProvisioningConfiguration:
        """The configuration ``ComputeTarget.create`` takes for a Data Factory."""
        return DataFactoryProvisioningConfiguration(DataFactoryCompute, location)

    @staticmethod
    def attach_configuration(
        resource_group: str | None = None, factory_name: str | None = None, resource_id: str | None = None
    ) -> DataFactoryAttachConfiguration:
        """What ``ComputeTarget.attach`` needs: the factory, by name or by its Azure resource id."""
        if resource_id:
            parts = resource_id.strip("/").split("/")
            fields = dict(zip(parts[::2], parts[1::2], strict=False))
            resource_group = resource_group or fields.get("resourceGroups")
            factory_name = factory_name or fields.get("factories")
        return DataFactoryAttachConfiguration(DataFactoryCompute, resource_group, factory_name)

    def task_placement(self) -> dict[str, Any]:
        """Nothing: the copy runs on the Airflow worker, with no pool or queue of its own."""
        return {}


#: ``(name, type)`` compute tuples: the type names Azure ML uses -> target class
_TYPES: dict[str, type[ComputeTarget]] = {
    "AmlCompute": AmlCompute,
    "Databricks": DatabricksCompute,
    "DatabricksCompute": DatabricksCompute,
    "DataLakeAnalytics": AdlaCompute,
    "AdlaCompute": AdlaCompute,
    "DataFactory": DataFactoryCompute,
    "DataFactoryCompute": DataFactoryCompute,
    "Docker": DockerCompute,
    "DockerCompute": DockerCompute,
}


#: Each class of compute target, under the name a YAML definition's ``computes`` gives as its ``type``.
COMPUTE_KINDS: dict[str, type[ComputeTarget]] = {
    "AmlCompute": AmlCompute,
    "DockerCompute": DockerCompute,
    "DatabricksCompute": DatabricksCompute,
    "AdlaCompute": AdlaCompute,
    "DataFactoryCompute": DataFactoryCompute,
}


def resolve_compute(workspace: Workspace | None, compute: Any) -> ComputeTarget | None:
    """A step's ``compute_target`` (object, name or ``(name, type)`` tuple) as a target, or None for local."""
    if compute is None or isinstance(compute, ComputeTarget):
        return compute
    kind = None
    if isinstance(compute, tuple):
        compute, kind = compute[0], (compute[1] if len(compute) > 1 else None)
    if compute == "local":
        return None
    if workspace is not None and compute in workspace._compute_targets:
        return workspace._compute_targets[compute]
    # A target created elsewhere (another notebook, the studio, an existing connection): by its type,
    # a cluster of that name with default size when none is given.
    placeholder = Workspace() if workspace is None else workspace
    return _TYPES.get(kind or "AmlCompute", AmlCompute)(placeholder, compute, None)


def _on_deployment(workspace: Workspace, name: str) -> dict[str, Any] | bool | None:
    """The deployment's answer for target ``name``: its description, False if it has none, None if there is
    no deployment to ask (a DAG file's parse, or a workspace that names none)."""
    from amlflow.api.urls import explicit_api_url
    from amlflow.pipeline.core._source import parsing_dag_file

    if parsing_dag_file() or not explicit_api_url(workspace):
        return None
    from amlflow.client import client_for

    return client_for(workspace).compute(name) or False


def _from_deployment(workspace: Workspace, found: dict[str, Any]) -> ComputeTarget:
    """The workspace's object for a target the deployment described (``amlflow.api.computes``)."""
    cls = _TYPES.get(found["ComputeType"], AmlCompute)
    name, slots = found["Name"], found.get("MaxNodes")
    if cls is AmlCompute:
        configuration: Any = AmlCompute.provisioning_configuration(max_nodes=slots or 4)
    elif cls is DockerCompute:
        configuration = DockerCompute.attach_configuration(max_nodes=slots or 4)
    else:
        configuration = None
    target = cls(workspace, name, configuration)
    workspace._register_compute(target)
    return target


def deployment_targets(workspace: Workspace) -> dict[str, ComputeTarget]:
    """The targets the workspace's deployment has, by name ({} in a DAG file's parse or with no deployment)."""
    from amlflow.api.urls import explicit_api_url
    from amlflow.pipeline.core._source import parsing_dag_file

    if parsing_dag_file() or not explicit_api_url(workspace):
        return {}
    from amlflow.client import client_for

    return {found["Name"]: _from_deployment(workspace, found) for found in client_for(workspace).computes()}


def attached_targets() -> dict[str, ComputeTarget]:
    """Targets attached by the DAG files parsed in this process (``amlflow computes sync`` reads them)."""
    return dict(_attached)
