"""``PipelineEndpoint``: one stable name and URL in front of versions of a published pipeline.

As in ``azureml.pipeline.core.pipeline_endpoint``. The deployment keeps the endpoint
(``amlflow.api.endpoints``); its versions are published pipelines (DAGs), "0" first. Its ``endpoint`` URL
takes Azure ML's ``PipelineSubmissionInfo`` body; ``/<version>`` or ``?pipelineVersion=`` picks a version,
the default version runs otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlflow.pipeline.core.graph import PublishedPipeline
    from amlflow.pipeline.core.run import PipelineRun


@dataclass(frozen=True)
class PipelineIdVersion:
    """A version of an endpoint and the id of its published pipeline."""

    version: str
    pipeline_id: str


@dataclass(frozen=True)
class PipelineVersion:
    """A version of an endpoint and its published pipeline."""

    version: str
    pipeline: PublishedPipeline


class PipelineEndpoint:
    """A named endpoint of versioned published pipelines, kept by the deployment."""

    def __init__(
        self,
        workspace: Any,
        id: str,
        name: str,
        description: str | None,
        status: str,
        default_version: str,
        endpoint: str,
        pipeline_version_list: list[PipelineIdVersion],
        _pipeline_endpoint_provider: Any = None,
        _published_pipeline_provider: Any = None,
        _swaggerurl: str | None = None,
    ) -> None:
        self._workspace = workspace
        self._id = id
        self._name = name
        self._description = description
        self._status = status
        self._default_version = default_version
        self._endpoint = endpoint
        self._pipeline_version_list = pipeline_version_list

    id = property(lambda self: self._id, doc="The endpoint's id.")
    name = property(lambda self: self._name, doc="The endpoint's name (unique in the deployment).")
    description = property(lambda self: self._description, doc="The endpoint's description.")
    status = property(lambda self: self._status, doc="'Active' or 'Disabled'.")
    default_version = property(lambda self: self._default_version, doc="The version that runs unless one is named.")
    endpoint = property(lambda self: self._endpoint, doc="The REST URL that submits runs of the endpoint.")
    pipeline_version_list = property(lambda self: list(self._pipeline_version_list), doc="Every version's id.")
    swaggerurl = property(lambda self: None, doc="None: amlflow serves its OpenAPI document at /amlflow/docs.")

    def __repr__(self) -> str:
        return (
            f"PipelineEndpoint(Name: {self.name}, Id: {self.id}, Status: {self.status}, "
            f"Default version: {self.default_version}, Endpoint: {self.endpoint})"
        )

    # -- creating and finding ----------------------------------------------------------------------
    @staticmethod
    def publish(
        workspace: Any,
        name: str,
        description: str | None,
        pipeline: Any,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> PipelineEndpoint:
        """Create the endpoint ``name`` with ``pipeline`` (a Pipeline, published first, or a PublishedPipeline)
        as its version "0"; ValueError if an endpoint of that name exists."""
        from datetime import datetime

        from amlflow.client import client_for
        from amlflow.pipeline.core.graph import PublishedPipeline
        from amlflow.pipeline.core.pipeline import Pipeline

        if name is not None and _exists(workspace, name):
            raise ValueError("PipelineEndpoint already exists with the given name. Please choose a unique value.")
        if type(pipeline) not in (Pipeline, PublishedPipeline):
            raise ValueError("pipeline should be either type Pipeline or PublishedPipeline")
        if isinstance(pipeline, Pipeline):
            published_name = f"{name}-{datetime.now().strftime('%m-%d-%Y-%H-%M')}-Pipeline"
            pipeline = pipeline.publish(name=published_name, description=f"Description for {published_name}")
        entity = client_for(workspace).create_pipeline_endpoint(name, description, pipeline.id)
        return PipelineEndpoint._from_entity(workspace, entity)

    @staticmethod
    def get(
        workspace: Any,
        id: str | None = None,
        name: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> PipelineEndpoint:
        """The endpoint of this ``id`` or ``name``; ValueError if there is none."""
        from amlflow.client import client_for

        if id is None and name is None:
            raise ValueError("PipelineEndpoint.get: give the endpoint's id or name")
        return PipelineEndpoint._from_entity(workspace, client_for(workspace).pipeline_endpoint(id, name))

    @staticmethod
    def list(
        workspace: Any,
        active_only: bool = True,
        max_results: int = 100,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> list[PipelineEndpoint]:
        """The endpoints of the deployment (only the active ones unless ``active_only=False``)."""
        from amlflow.client import client_for

        entities = client_for(workspace).pipeline_endpoints(active_only=active_only)[:max_results]
        return [PipelineEndpoint._from_entity(workspace, entity) for entity in entities]

    @staticmethod
    def get_all(workspace: Any, active_only: bool = True, **kwargs: Any) -> list[PipelineEndpoint]:
        """Deprecated in Azure ML: ``list``."""
        return PipelineEndpoint.list(workspace, active_only=active_only)

    # -- versions ----------------------------------------------------------------------------------
    def get_default_version(self) -> str:
        """The endpoint's default version."""
        return self._default_version

    def get_pipeline(self, version: str | None = None) -> PublishedPipeline:
        """The published pipeline of ``version`` (the default one if None); ValueError if there is none."""
        from amlflow.pipeline.core.graph import PublishedPipeline

        wanted = self._default_version if version is None else str(version)
        for item in self._pipeline_version_list:
            if item.version == wanted:
                return PublishedPipeline.get(self._workspace, item.pipeline_id)
        raise ValueError(f"Version {wanted}, pipeline not found in pipelineEndpoint {self.id}")

    def list_versions(self, _workflow_provider: Any = None, _service_endpoint: Any = None) -> list[PipelineVersion]:
        """Every version with its published pipeline."""
        from amlflow.pipeline.core.graph import PublishedPipeline

        return [
            PipelineVersion(item.version, PublishedPipeline.get(self._workspace, item.pipeline_id))
            for item in self._pipeline_version_list
        ]

    def get_all_versions(self, _workflow_provider: Any = None, _service_endpoint: Any = None) -> list[PipelineVersion]:
        """Deprecated in Azure ML: ``list_versions``."""
        return self.list_versions()

    def list_pipelines(
        self, active_only: bool = True, _workflow_provider: Any = None, _service_endpoint: Any = None
    ) -> list[PublishedPipeline]:
        """The published pipelines of the versions (only the enabled ones unless ``active_only=False``)."""
        pipelines = [version.pipeline for version in self.list_versions()]
        return [p for p in pipelines if not active_only or p.status == "Active"]

    def get_all_pipelines(self, active_only: bool = True, **kwargs: Any) -> list[PublishedPipeline]:
        """Deprecated in Azure ML: ``list_pipelines``."""
        return self.list_pipelines(active_only=active_only)

    def add(self, pipeline: PublishedPipeline) -> None:
        """Add ``pipeline`` as the next version."""
        self._update(PipelineId=pipeline.id)

    def add_default(self, pipeline: PublishedPipeline) -> None:
        """Add ``pipeline`` as the next version and make it the default."""
        self._update(PipelineId=pipeline.id, AddDefault=True)

    def set_default_version(self, version: str) -> None:
        """Make ``version`` the default; ValueError if the endpoint has no such version."""
        version = str(version)
        if not any(item.version == version for item in self._pipeline_version_list):
            raise ValueError(
                f"Cannot set version {version}, does not exist in pipeline endpoint {self.id}. Please, use add() "
                "or add_default() to add "
            )
        self._update(DefaultVersion=version)

    def set_default(self, pipeline: PublishedPipeline) -> None:
        """Make the version of ``pipeline`` the default; ValueError if it is not one of the versions."""
        found = [item.version for item in self._pipeline_version_list if item.pipeline_id == pipeline.id]
        if not found:
            raise ValueError(
                f"Cannot set pipeline, pipeline id {pipeline.id} does not exist in pipeline endpoint {self.id}. "
                "Please, use add() or add_default() to add "
            )
        self._update(DefaultVersion=found[-1])

    # -- name and status ---------------------------------------------------------------------------
    def set_name(self, name: str) -> None:
        """Rename the endpoint on the deployment."""
        self._update(Name=name)

    def enable(self) -> None:
        """Let the endpoint take submissions again."""
        self._update(Status="Active")

    def disable(self) -> None:
        """Refuse submissions (its URL answers 400) until ``enable()``."""
        self._update(Status="Disabled")

    def archive(self) -> None:
        """Disable the endpoint and free its name (it takes a generated one), as Azure ML does."""
        import uuid

        self._update(Name=str(uuid.uuid4()), Status="Disabled")

    def reactivate(self, name: str) -> PipelineEndpoint:
        """Enable an archived endpoint under ``name``."""
        self._update(Name=name, Status="Active")
        return self

    # -- runs --------------------------------------------------------------------------------------
    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        parent_run_id: str | None = None,
        pipeline_version: str | None = None,
    ) -> PipelineRun:
        """Start a run of ``pipeline_version`` (the default version if None) in ``experiment_name``."""
        from amlflow.core.experiment import Experiment

        return self._submit(Experiment(self._workspace, experiment_name), pipeline_parameters, pipeline_version)

    def _submit(
        self,
        experiment: Any,
        pipeline_parameters: dict[str, Any] | None = None,
        pipeline_version: str | None = None,
        **options: Any,
    ) -> PipelineRun:
        from amlflow.client import client_for
        from amlflow.pipeline.core.graph import submission_body
        from amlflow.pipeline.core.run import PipelineRun

        if self.status != "Active":
            raise ValueError(f"Status must be Active, its {self.status}")
        body = submission_body(experiment, pipeline_parameters, **options)
        version = None if pipeline_version is None else str(pipeline_version)
        entity = client_for(self._workspace).submit_to_endpoint(self.id, body, version)
        return PipelineRun(experiment, entity["Id"], _details=entity)

    # -- the wire ----------------------------------------------------------------------------------
    def _update(self, **changes: Any) -> None:
        from amlflow.client import client_for

        self._refresh(client_for(self._workspace).update_pipeline_endpoint(self.id, changes))

    def _refresh(self, entity: dict[str, Any]) -> None:
        self._name = entity["Name"]
        self._description = entity.get("Description")
        self._status = entity["Status"]
        self._default_version = entity["DefaultVersion"]
        self._endpoint = entity["Url"]
        self._pipeline_version_list = [
            PipelineIdVersion(item["Version"], item["PipelineId"]) for item in entity["PipelineVersionList"]
        ]

    @staticmethod
    def _from_entity(workspace: Any, entity: dict[str, Any]) -> PipelineEndpoint:
        endpoint = PipelineEndpoint(workspace, entity["Id"], "", None, "Active", "0", "", [])
        endpoint._refresh(entity)
        return endpoint


def _exists(workspace: Any, name: str) -> bool:
    from amlflow.client import client_for

    try:
        client_for(workspace).pipeline_endpoint(name=name)
    except ValueError:
        return False
    return True
