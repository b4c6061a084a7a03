"""``PipelineParameter`` and ``PublishedPipeline``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

    def problems(self) -> list[str]:
        supported = ", ".join(t.__name__ for t, _ in PARAMETER_TYPES)
        problems = []
        if not isinstance(self.name, str) or not self.name:
            problems.append(f"PipelineParameter name {self.name!r} must be a non-empty string")
        if self.json_type is None:
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
        return list(self.dag.task_ids) if self.dag is not None else []
