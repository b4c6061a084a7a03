"""``PipelineDraft``: a pipeline kept by the deployment to be changed, run and published later.

As in ``azureml.pipeline.core.pipeline_draft``. A draft holds the pipeline's definition and code (its
snapshots are uploaded when the draft is made or updated), never a DAG: ``submit_run()`` and
``publish()`` send that definition as ``Experiment.submit`` and ``Pipeline.publish`` send a pipeline,
so the draft runs the code it was given even if the notebook's folder has changed since.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from amlflow.pipeline.core.graph import parameter_assignments

if TYPE_CHECKING:
    from amlflow.pipeline.core.graph import PublishedPipeline
    from amlflow.pipeline.core.run import PipelineRun


class PipelineDraft:
    """A mutable pipeline of the deployment (see the module docstring)."""

    def __init__(
        self,
        workspace: Any,
        id: str,
        name: str | None = None,
        description: str | None = None,
        experiment_name: str | None = None,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        graph_draft_id: str | None = None,
        parent_pipeline_id: str | None = None,
        parent_pipeline_run_id: str | None = None,
        parent_step_run_ids: list[str] | None = None,
        parent_pipeline_draft_id: str | None = None,
        last_submitted_pipeline_run_id: str | None = None,
        _pipeline_draft_provider: Any = None,
    ) -> None:
        self._workspace = workspace
        self._id = id
        self._record: dict[str, Any] = {}
        self._refresh(
            {
                "name": name,
                "description": description,
                "experiment_name": experiment_name,
                "tags": tags or {},
                "properties": properties or {},
                "parent_pipeline_id": parent_pipeline_id,
                "parent_pipeline_run_id": parent_pipeline_run_id,
                "parent_pipeline_draft_id": parent_pipeline_draft_id,
                "last_submitted_pipeline_run_id": last_submitted_pipeline_run_id,
            }
        )

    id = property(lambda self: self._id, doc="The draft's id.")
    name = property(lambda self: self._record.get("name"), doc="The draft's name.")
    description = property(lambda self: self._record.get("description"), doc="The draft's description.")
    tags = property(lambda self: dict(self._record.get("tags") or {}), doc="The draft's tags.")
    properties = property(lambda self: dict(self._record.get("properties") or {}), doc="The draft's properties.")
    parent_pipeline_id = property(lambda self: self._record.get("parent_pipeline_id"), doc="Cloned from.")
    parent_pipeline_run_id = property(lambda self: self._record.get("parent_pipeline_run_id"), doc="Cloned from.")
    parent_step_run_ids = property(lambda self: [], doc="Empty: amlflow clones whole runs only.")
    parent_pipeline_draft_id = property(lambda self: self._record.get("parent_pipeline_draft_id"), doc="Cloned from.")
    last_submitted_pipeline_run_id = property(
        lambda self: self._record.get("last_submitted_pipeline_run_id"), doc="The run ``submit_run()`` started last."
    )

    def __repr__(self) -> str:
        return (
            f"PipelineDraft(Name: {self.name}, Id: {self.id}, Experiment: {self._record.get('experiment_name')}, "
            f"Tags: {self.tags})"
        )

    # -- creating and finding ----------------------------------------------------------------------
    @staticmethod
    def create(
        workspace: Any,
        pipeline: Any,
        name: str | None = None,
        description: str | None = None,
        experiment_name: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        continue_on_step_failure: bool | None = None,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> PipelineDraft:
        """A new draft of ``pipeline``: a Pipeline (its code is uploaded now), or a clone of a PipelineDraft,
        a PublishedPipeline or a PipelineRun (of a pipeline sent from a notebook)."""
        from amlflow.client import client_for
        from amlflow.pipeline.core.graph import PublishedPipeline
        from amlflow.pipeline.core.pipeline import Pipeline
        from amlflow.pipeline.core.run import PipelineRun

        if type(pipeline) not in (Pipeline, PublishedPipeline, PipelineDraft, PipelineRun):
            raise ValueError("pipeline should be of type Pipeline, PublishedPipeline, PipelineDraft, or PipelineRun")
        if isinstance(pipeline, Pipeline):
            if name is None:
                raise ValueError("name can not be None")
            if experiment_name is None:
                raise ValueError("experiment_name can not be None")
            body = {
                "name": name,
                "description": description,
                "experiment_name": experiment_name,
                **_contents(pipeline, experiment_name, pipeline_parameters, continue_on_step_failure),
                "tags": tags,
                "properties": properties,
            }
        else:
            body = _clone(workspace, pipeline)
        return PipelineDraft._from_record(workspace, client_for(workspace).create_draft(body))

    @staticmethod
    def get(workspace: Any, id: str, _workflow_provider: Any = None, _service_endpoint: Any = None) -> PipelineDraft:
        """The draft ``id``; ValueError if there is none."""
        from amlflow.client import client_for

        return PipelineDraft._from_record(workspace, client_for(workspace).draft(id))

    @staticmethod
    def list(workspace: Any, tags: dict[str, str] | None = None, _workflow_provider: Any = None) -> list[PipelineDraft]:
        """The drafts of the deployment; with ``tags``, those that carry all of them."""
        from amlflow.client import client_for

        wanted = (tags or {}).items()
        records = client_for(workspace).drafts()
        return [
            PipelineDraft._from_record(workspace, record)
            for record in records
            if all((record.get("tags") or {}).get(key) == value for key, value in wanted)
        ]

    # -- changing ----------------------------------------------------------------------------------
    def update(
        self,
        pipeline: Any = None,
        name: str | None = None,
        description: str | None = None,
        experiment_name: str | None = None,
        tags: dict[str, str] | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        continue_on_step_failure: bool | None = None,
        _workflow_provider: Any = None,
    ) -> None:
        """Change what is given; a new ``pipeline`` replaces the draft's graph and code."""
        from amlflow.client import client_for
        from amlflow.pipeline.core.pipeline import Pipeline

        changes: dict[str, Any] = {}
        if pipeline is not None:
            if not isinstance(pipeline, Pipeline):
                raise ValueError("pipeline should be of type Pipeline")
            experiment = experiment_name or self._record["experiment_name"]
            changes.update(_contents(pipeline, experiment, pipeline_parameters, continue_on_step_failure))
        elif pipeline_parameters is not None:
            changes["submission"] = parameter_assignments(
                self._workspace, self._record["experiment_name"], pipeline_parameters
            )
        given = {
            "name": name,
            "description": description,
            "experiment_name": experiment_name,
            "tags": tags,
            "continue_on_step_failure": continue_on_step_failure,
        }
        changes.update({key: value for key, value in given.items() if value is not None})
        self._refresh(client_for(self._workspace).update_draft(self.id, changes))

    def delete(self, _workflow_provider: Any = None) -> None:
        """Remove the draft (its runs and published pipelines stay)."""
        from amlflow.client import client_for

        client_for(self._workspace).delete_draft(self.id)

    def save(self, path: str | None = None, _workflow_provider: Any = None) -> None:
        """Write the draft's definition (amlflow's pipeline YAML) to ``path`` (a folder: ``<name>.yml`` in it)."""
        path = path or os.getcwd()
        if os.path.isdir(path):
            path = os.path.join(path, f"{self.name}.yml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self._record["definition"])

    def get_graph(self, _workflow_provider: Any = None) -> Any:
        """Refused: amlflow keeps a draft as its definition, not as an Azure ML graph."""
        raise NotImplementedError(
            "PipelineDraft.get_graph: amlflow has no Graph objects; read the draft's definition with save(path)"
        )

    # -- running and publishing --------------------------------------------------------------------
    def submit_run(self, _workflow_provider: Any = None) -> PipelineRun:
        """Start a run of the draft's pipeline in its experiment, with its parameter values."""
        import yaml

        from amlflow import deployment
        from amlflow.client import client_for
        from amlflow.core.experiment import Experiment
        from amlflow.pipeline.core.graph import submission_body
        from amlflow.pipeline.core.run import PipelineRun

        record = client_for(self._workspace).draft(self.id)
        experiment = Experiment(self._workspace, record["experiment_name"])
        document = yaml.safe_load(record["definition"])
        dag_id = deployment._upload(self._workspace, document, deployment.experiment_naming(experiment))
        body = {
            **submission_body(experiment, continue_on_step_failure=record.get("continue_on_step_failure")),
            **(record.get("submission") or {}),
        }
        entity = client_for(self._workspace).submit(dag_id, body)
        run = PipelineRun(experiment, entity["Id"], _details=entity)
        self._refresh(client_for(self._workspace).update_draft(self.id, {"last_submitted_pipeline_run_id": run.id}))
        return run

    def publish(self, _workflow_provider: Any = None) -> PublishedPipeline:
        """Publish the draft's pipeline under the draft's name."""
        import yaml

        from amlflow import deployment
        from amlflow.client import client_for

        record = client_for(self._workspace).draft(self.id)
        return deployment.publish_document(
            self._workspace,
            yaml.safe_load(record["definition"]),
            record["name"],
            record.get("description"),
            None,
            record.get("continue_on_step_failure"),
        )

    # -- the wire ----------------------------------------------------------------------------------
    def _refresh(self, record: dict[str, Any]) -> None:
        self._record = {**self._record, **record}

    @staticmethod
    def _from_record(workspace: Any, record: dict[str, Any]) -> PipelineDraft:
        draft = PipelineDraft(workspace, record["id"])
        draft._refresh(record)
        return draft


def _contents(
    pipeline: Any, experiment_name: str, pipeline_parameters: dict[str, Any] | None, continue_on_step_failure: Any
) -> dict[str, Any]:
    """A draft's definition, code and parameter values, checked as Azure ML checks them (unknown names refused)."""
    from amlflow import deployment
    from amlflow.exceptions import UserErrorException
    from amlflow.factory import yaml_writer

    known = set(pipeline.parameters()) | pipeline.data_path_inputs() | set(pipeline.dataset_parameters())
    for name in pipeline_parameters or {}:
        if name not in known:
            raise UserErrorException(f"Pipeline parameter with name {name} does not exist")
    document = deployment.send_code(pipeline, continue_on_step_failure=continue_on_step_failure, fresh=True)
    return {
        "definition": yaml_writer.dump(document),
        "submission": parameter_assignments(pipeline.workspace, experiment_name, pipeline_parameters),
        "continue_on_step_failure": continue_on_step_failure,
    }


def _clone(workspace: Any, source: Any) -> dict[str, Any]:
    """The body of a draft cloned from a draft, a published pipeline or a run."""
    from amlflow import deployment
    from amlflow.client import client_for
    from amlflow.pipeline.core.graph import PublishedPipeline

    if isinstance(source, PipelineDraft):
        record = client_for(workspace).draft(source.id)
        keep = ("name", "description", "experiment_name", "definition", "submission", "continue_on_step_failure")
        return {
            **{key: record.get(key) for key in keep},
            "tags": record.get("tags"),
            "parent_pipeline_draft_id": source.id,
        }
    from amlflow.factory import yaml_writer

    if isinstance(source, PublishedPipeline):
        dag_id, name, experiment, origin = source.id, source.name, source.name, {"parent_pipeline_id": source.id}
    else:
        dag_id, name, experiment = source.pipeline_id, source.pipeline_id, source.experiment.name
        origin = {"parent_pipeline_run_id": source.id}
    document = deployment.sent_document(
        workspace,
        dag_id,
        f"PipelineDraft.create: pipeline {dag_id!r} is defined by a DAG file; a draft can be made only of a "
        "pipeline sent from a notebook (edit the DAG file instead)",
    )
    document = {k: v for k, v in document.items() if k not in ("name", "experiment", "display_name", "published")}
    return {
        "name": name,
        "experiment_name": _experiment_name(experiment),
        "definition": yaml_writer.dump(document),
        **origin,
    }


def _experiment_name(name: str) -> str:
    """An experiment name made from a pipeline's name (Azure ML's rule: letters, digits, '_' and '-')."""
    import re

    return re.sub(r"[^\w-]", "_", name)[:256] or "pipeline_draft"
