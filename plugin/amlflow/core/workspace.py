"""``Workspace``: in Azure ML an Azure resource; in amlflow a handle on this Airflow deployment.

Azure identifiers (subscription, resource group, name, location) are accepted and kept so ported code
runs unchanged; nothing is looked up with them. Compute targets created or attached in a DAG file are
remembered by the workspace object for the pipelines built in that file.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlflow.core.compute import ComputeTarget
    from amlflow.core.datastore import Datastore

CONFIG_FOLDERS = (".azureml", "aml_config", "")
CONFIG_FILE = "config.json"
#: ``ws.location`` of a workspace whose config names no location.
DEFAULT_LOCATION = "airflow"


class Workspace:
    """A handle on this Airflow deployment, with Azure ML's workspace API."""

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        auth: Any = None,
        _location: str | None = None,
        _disable_service_check: bool = False,
        _workspace_id: str | None = None,
        sku: str = "basic",
        tags: dict | None = None,
        _cloud: str = "AzureCloud",
        **kwargs: Any,
    ) -> None:
        # Azure's identifiers are kept as given (strings, so the samples' ``'Azure region: ' + ws.location``
        # prints): the workspace is this deployment, which has no subscription and no region.
        self.subscription_id = subscription_id or ""
        self.resource_group = resource_group or ""
        self.name = workspace_name or "amlflow"
        self.location = _location or DEFAULT_LOCATION
        self.sku = sku
        self.tags = dict(tags or {})
        self._auth = auth
        # Where the Airflow REST API of this deployment is, for the client; None means the environment's.
        self.api_url: str | None = kwargs.get("api_url")
        self._config_path: str | None = kwargs.get("_config_path")
        self._compute_targets: dict[str, ComputeTarget] = {}
        self._default_datastore: str | None = None

    def __repr__(self) -> str:
        return (
            f"Workspace.create(name={self.name!r}, subscription_id={self.subscription_id!r}, "
            f"resource_group={self.resource_group!r})"
        )

    # -- constructors Azure ML users call ----------------------------------------------------------
    @staticmethod
    def from_config(
        path: str | None = None, auth: Any = None, _logger: Any = None, _file_name: str | None = None
    ) -> Workspace:
        """Read ``config.json`` (searched in ``path`` and its parents, as Azure ML does), or the default."""
        found = _find_config(path or os.getcwd(), _file_name or CONFIG_FILE)
        if found is None:
            return Workspace(auth=auth)
        with open(found) as handle:
            data = json.load(handle)
        return Workspace(
            subscription_id=data.get("subscription_id"),
            resource_group=data.get("resource_group"),
            workspace_name=data.get("workspace_name"),
            auth=auth,
            _location=data.get("location"),
            api_url=data.get("api_url"),
            _config_path=found,
        )

    @staticmethod
    def get(
        name: str,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        cloud: str = "AzureCloud",
        id: str | None = None,
    ) -> Workspace:
        """The workspace ``name``, as Azure ML's ``Workspace.get``; nothing is looked up here."""
        return Workspace(subscription_id, resource_group, name, auth=auth, _location=location)

    @staticmethod
    def create(
        name: str,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        exist_ok: bool = False,
        **kwargs: Any,
    ) -> Workspace:
        """A workspace object for ``name``, as ``get`` makes: there is no Azure resource to create."""
        return Workspace(subscription_id, resource_group, name, auth=auth, _location=location)

    def write_config(self, path: str | None = None, file_name: str | None = None) -> None:
        """Write ``.azureml/config.json`` (or ``file_name``) under ``path`` (default: the current folder), for
        ``from_config``.
        """
        folder = os.path.join(path or os.getcwd(), ".azureml")
        os.makedirs(folder, exist_ok=True)
        body = {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "workspace_name": self.name,
            "location": self.location,
        }
        if self.api_url:
            body["api_url"] = self.api_url
        with open(os.path.join(folder, file_name or CONFIG_FILE), "w") as handle:
            json.dump(body, handle, indent=2)

    # -- what pipelines use ------------------------------------------------------------------------
    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        """The compute targets by name: those this object made, and, from a notebook, the deployment's."""
        from amlflow.core.compute import deployment_targets

        return {**deployment_targets(self), **self._compute_targets}

    @property
    def experiments(self) -> dict[str, Any]:
        """The deployment's experiments by name (``Experiment.list``): one request each time it is read."""
        from amlflow.core.experiment import Experiment

        return {experiment.name: experiment for experiment in Experiment.list(self)}

    @property
    def datastores(self) -> dict[str, Datastore]:
        """The registered datastores by name: the deployment's (through its api-server) when the workspace
        names one, this machine's otherwise; in a DAG file's parse only the well-known ones (no look-up)."""
        from amlflow.api.urls import explicit_api_url
        from amlflow.core.datastore import Datastore
        from amlflow.pipeline.core._source import parsing_dag_file

        names = {self.default_datastore_name, "workspaceblobstore", "workspacefilestore"}
        if not parsing_dag_file():
            if explicit_api_url(self):
                from amlflow.client import client_for

                names.update(entry["Name"] for entry in client_for(self).datastores())
            else:
                from amlflow.storage.registry import registered_names

                names.update(registered_names())
        return {name: Datastore(self, name) for name in sorted(names)}

    @property
    def datasets(self) -> dict[str, Any]:
        """The registered datasets by name, each at its latest version (``Dataset.get_all``)."""
        from amlflow.core.dataset import Dataset

        return Dataset.get_all(self)

    @property
    def default_datastore_name(self) -> str:
        """The name of the default datastore: the one set on this workspace, else ``[amlflow] default_datastore``."""
        from amlflow import config

        return self._default_datastore or config.get("default_datastore")

    def get_default_datastore(self) -> Datastore:
        """The workspace's default datastore."""
        from amlflow.core.datastore import Datastore

        return Datastore(self, self.default_datastore_name)

    def set_default_datastore(self, name: str) -> None:
        """Make ``name`` the default datastore of pipelines built from this workspace object."""
        self._default_datastore = name

    def _register_compute(self, target: ComputeTarget) -> None:
        self._compute_targets[target.name] = target


def _find_config(start: str, file_name: str) -> str | None:
    current = os.path.abspath(start)
    while True:
        for folder in CONFIG_FOLDERS:
            candidate = os.path.join(current, folder, file_name)
            if os.path.isfile(candidate):
                return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
