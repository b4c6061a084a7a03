"""``PipelineParameter`` and ``PublishedPipeline``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlflow.data.datapath import DataPath

if TYPE_CHECKING:
    from airflow.sdk import DAG

#: JSON-schema type of each default type a PipelineParameter accepts (bool before int: bool is an int).
PARAMETER_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
)


class PipelineParameter:
    """A value given when a run is triggered; its default is used when none is given."""

    def __init__(self, name: str, default_value: Any) -> None:
        self.name = name
        self.default_value = default_value

    def __str__(self) -> str:
        return f"PipelineParameter_Name:{self.name}_Default:{self.default_value}"

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"

    @property
    def json_type(self) -> str | None:
        """The JSON-schema type of the default, or None if Azure ML would not accept its type."""
        for python_type, json_type in PARAMETER_TYPES:
            if isinstance(self.default_value, python_type):
                return json_type
        return None

    @property
    def is_dataset(self) -> bool:
        """Whether the value is a dataset (a FileDataset or TabularDataset), given as a DatasetConsumptionConfig."""
        from amlflow.data.abstract_dataset import AbstractDataset
        from amlflow.data.dataset_reference import DatasetReference

        return isinstance(self.default_value, AbstractDataset | DatasetReference)

    def problems(self) -> list[str]:
        """What is wrong with the parameter (its name, or a default a run cannot carry); empty if nothing is."""
        supported = ", ".join(t.__name__ for t, _ in PARAMETER_TYPES)
        problems = []
        if not isinstance(self.name, str) or not self.name:
            problems.append(f"PipelineParameter name {self.name!r} must be a non-empty string")
        if isinstance(self.default_value, DataPath):
            problems.append(
                f"PipelineParameter {self.name!r} has a DataPath default: use it in the step's inputs and "
                "arguments as (parameter, DataPathComputeBinding(mode=...))"
            )
        elif self.is_dataset:
            problems.append(
                f"PipelineParameter {self.name!r} has a dataset default: give it to the step as "
                f"DatasetConsumptionConfig(name, parameter) in its inputs or arguments"
            )
        elif self.json_type is None:
            problems.append(
                f"PipelineParameter {self.name!r} has a default of unsupported type "
                f"{type(self.default_value).__name__} (supported: {supported})"
            )
        elif isinstance(self.default_value, str) and "\n" in self.default_value:
            problems.append(f"PipelineParameter {self.name!r}: multi-line values can't be PipelineParameters")
        return problems


class PublishedPipeline:
    """A pipeline published as a DAG: it runs whenever it is triggered (REST, UI, endpoint)."""

    def __init__(
        self,
        name: str,
        graph_id: str | None,
        description: str | None,
        version: str | None,
        published_pipeline_id: str,
        status: str,
        endpoint: str | None,
        total_run_steps: int,
        workspace: Any,
        continue_on_step_failure: bool | None = None,
        dag: DAG | None = None,
        **kwargs: Any,
    ) -> None:
        self.name = name
        self.graph_id = graph_id
        self.description = description
        self.version = version
        self.id = published_pipeline_id
        self.status = status
        self._endpoint = endpoint
        self.total_run_steps = total_run_steps
        self.workspace = workspace
        self.continue_on_step_failure = continue_on_step_failure
        self.dag = dag

    def __repr__(self) -> str:
        return f"PublishedPipeline(name={self.name!r}, id={self.id!r}, status={self.status!r})"

    @property
    def endpoint(self) -> str:
        """The AML-compatible REST endpoint that triggers this pipeline."""
        if self._endpoint:
            return self._endpoint
        from amlflow.api.urls import submit_url

        return submit_url(self.workspace, self.id)

    def get_step_names(self) -> list[str]:
        """The names of the pipeline's steps."""
        if self.dag is None:
            return list(getattr(self, "_step_names", []))
        from amlflow.factory.parallel_run_tasks import step_names

        return step_names(self.dag)

    # -- the client: over the amlflow endpoint and Airflow's REST API --------------------------------
    @staticmethod
    def get(
        workspace: Any, id: str, _workflow_provider: Any = None, _service_endpoint: Any = None
    ) -> PublishedPipeline:
        """The published pipeline ``id`` (its DAG id) of the Airflow that ``workspace`` points at."""
        from amlflow.client import client_for

        return PublishedPipeline._from_entity(workspace, client_for(workspace).published_pipeline(id))

    @staticmethod
    def list(workspace: Any, active_only: bool = True, _service_endpoint: Any = None) -> list[PublishedPipeline]:
        """The published pipelines the caller may read; with ``active_only`` only the enabled (unpaused) ones."""
        from amlflow.client import client_for

        entities = client_for(workspace).published_pipelines(active_only=active_only)
        return [PublishedPipeline._from_entity(workspace, entity) for entity in entities]

    @staticmethod
    def _from_entity(workspace: Any, entity: dict[str, Any]) -> PublishedPipeline:
        published = PublishedPipeline(
            name=entity["Name"],
            graph_id=entity["GraphId"],
            description=entity["Description"],
            version=entity["Version"],
            published_pipeline_id=entity["Id"],
            status=entity["Status"],
            # None: the endpoint is computed from the workspace, the URL this client reaches Airflow at.
            endpoint=None,
            total_run_steps=entity["TotalRunSteps"],
            workspace=workspace,
            continue_on_step_failure=entity["ContinueRunOnStepFailure"],
        )
        published.parameters = dict(entity.get("Parameters") or {})
        published._step_names = list(entity.get("StepNames") or [])
        return published

    def submit(
        self,
        workspace: Any,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
        parent_run_id: str | None = None,
        continue_on_step_failure: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Start a run in experiment ``experiment_name``; returns its ``PipelineRun``.

        ``pipeline_parameters`` maps parameter names to values; a DataReference value repoints the
        DataReference input of that name for this run (Azure ML's DataPath parameters).
        ``regenerate_outputs=True`` (amlflow) runs every step, reusing nothing.
        """
        from amlflow.core.experiment import Experiment

        return self._submit(
            Experiment(workspace, experiment_name),
            pipeline_parameters=pipeline_parameters,
            continue_on_step_failure=continue_on_step_failure,
            **kwargs,
        )

    def _submit(self, experiment: Any, pipeline_parameters: dict[str, Any] | None = None, **options: Any) -> Any:
        from amlflow.client import client_for
        from amlflow.pipeline.core.run import PipelineRun

        body = submission_body(experiment, pipeline_parameters, **options)
        entity = client_for(experiment.workspace).submit(self.id, body)
        return PipelineRun(experiment, entity["Id"], _details=entity)

    def enable(self) -> None:
        """Let the pipeline run when triggered again (unpause its DAG)."""
        from amlflow.client import client_for

        client_for(self.workspace).set_paused(self.id, False)
        self.status = "Active"

    def disable(self) -> None:
        """Stop the pipeline from running (pause its DAG): submissions are refused until ``enable()``."""
        from amlflow.client import client_for

        client_for(self.workspace).set_paused(self.id, True)
        self.status = "Disabled"


def submission_body(
    experiment: Any,
    pipeline_parameters: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    continue_on_step_failure: bool | None = None,
    regenerate_outputs: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """Azure ML's ``PipelineSubmissionInfo`` for a run in ``experiment``.

    A DataReference value of ``pipeline_parameters`` repoints the DataReference input of that name
    (Azure ML's DataPath parameters); a dataset value is saved in the workspace and assigned by its id,
    as Azure ML does; ``regenerate_outputs`` (amlflow's ``RegenerateOutputs``) reuses nothing.
    """
    from amlflow.data.abstract_dataset import AbstractDataset

    values, data_paths, datasets = {}, {}, {}
    for name, value in (pipeline_parameters or {}).items():
        if isinstance(value, AbstractDataset):
            datasets[name] = {"SavedDataSetReference": {"Id": value._ensure_saved(experiment.workspace)}}
        elif hasattr(value, "datastore") and hasattr(value, "path_on_datastore"):
            data_paths[name] = {"DataStoreName": value.datastore.name, "RelativePath": value.path_on_datastore}
        else:
            values[name] = value
    body: dict[str, Any] = {
        "ExperimentName": experiment.name,
        "RunSource": "SDK",
        "ParameterAssignments": values,
        "DataPathAssignments": data_paths,
    }
    if datasets:
        body["DataSetDefinitionValueAssignments"] = datasets
    optional = {
        "tags": tags,
        "Description": description,
        "ContinueRunOnStepFailure": continue_on_step_failure,
        "RegenerateOutputs": regenerate_outputs or None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def parameter_assignments(workspace: Any, experiment_name: str, pipeline_parameters: dict[str, Any] | None) -> dict:
    """The parts of a ``PipelineSubmissionInfo`` that assign ``pipeline_parameters`` (values, data paths, datasets):
    what a schedule or a draft keeps to send with each of its runs."""
    from amlflow.core.experiment import Experiment

    body = submission_body(Experiment(workspace, experiment_name, _skip_name_validation=True), pipeline_parameters)
    keys = ("ParameterAssignments", "DataPathAssignments", "DataSetDefinitionValueAssignments")
    return {key: body[key] for key in keys if key in body}
