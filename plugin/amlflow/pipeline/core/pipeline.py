"""``Pipeline``: steps and the order between them, validated, then published as an Airflow DAG."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from amlflow.data.data_reference import DataReference
from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.exceptions import PipelineValidationError, UserErrorException, ValidationProblem
from amlflow.pipeline.core._source import caller_file, parsing_dag_file, parsing_for_a_task
from amlflow.pipeline.core.builder import PipelineData, PipelineStep, StepSequence, input_data
from amlflow.pipeline.core.graph import PipelineParameter, PublishedPipeline

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from amlflow.core.datastore import Datastore
    from amlflow.core.workspace import Workspace

#: Airflow's rule for dag and task ids.
_AIRFLOW_ID = re.compile(r"^[\w.-]{1,250}$")


class Pipeline:
    """Steps that run together. Listing only the last step is enough: the steps it needs are found."""

    def __init__(
        self,
        workspace: Workspace,
        steps: Any,
        description: str | None = None,
        default_datastore: Datastore | None = None,
        default_source_directory: str | None = None,
        resolve_closure: bool = True,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
        **kwargs: Any,
    ) -> None:
        unknown = set(kwargs) - {"enable_email_notification"}
        if unknown:
            raise ValueError(f"Pipeline got unexpected arguments: {', '.join(sorted(unknown))}")
        self.workspace = workspace
        self.description = description
        self.default_datastore = default_datastore
        self.default_source_directory = default_source_directory
        self.source_file = caller_file()
        self._steps: list[PipelineStep] = []
        #: (before, after) pairs from StepSequence
        self._sequence_edges: list[tuple[PipelineStep, PipelineStep]] = []
        self._add(steps)
        if resolve_closure:
            self._add_closure()

    def __repr__(self) -> str:
        return "Pipeline(\n" + "\n".join(f"  {step!r}" for step in self._steps) + "\n)"

    @property
    def steps(self) -> list[PipelineStep]:
        """The pipeline's steps, as given."""
        return list(self._steps)

    @property
    def default_datastore_name(self) -> str | None:
        """Datastore of PipelineData declared without one; None means ``[amlflow] default_datastore``."""
        if self.default_datastore is not None:
            return self.default_datastore.name
        return self.workspace._default_datastore if self.workspace is not None else None

    # -- building ----------------------------------------------------------------------------------
    def _add(self, item: Any) -> list[PipelineStep]:
        """Add ``item`` (step, list, StepSequence, PipelineData); return the steps it stands for."""
        if isinstance(item, PipelineStep):
            if not any(s is item for s in self._steps):
                self._steps.append(item)
            return [item]
        if isinstance(item, PipelineData):
            return [self._add(producer)[0] for producer in item._producers]
        if isinstance(item, StepSequence):
            previous: list[PipelineStep] = []
            added: list[PipelineStep] = []
            for element in item:
                current = self._add(element)
                self._sequence_edges.extend((before, after) for before in previous for after in current)
                previous = current
                added.extend(current)
            return added
        if isinstance(item, list | tuple):
            return [step for element in item for step in self._add(element)]
        raise UserErrorException(f"Can not add object of type {type(item).__name__} to a pipeline: {item!r}")

    def _add_closure(self) -> None:
        queue = list(self._steps)
        while queue:
            step = queue.pop()
            needed = [p for data in step.upstream_data() for p in data._producers] + step._run_after
            for upstream in needed:
                if not any(s is upstream for s in self._steps):
                    self._steps.append(upstream)
                    queue.append(upstream)

    # -- the graph ---------------------------------------------------------------------------------
    def edges(self) -> list[tuple[str, str]]:
        """Sorted, unique (upstream, downstream) step-name pairs: data, run_after and sequence order."""
        members = {id(s) for s in self._steps}
        pairs = set()
        for step in self._steps:
            for data in step.upstream_data():
                pairs.update((p.name, step.name) for p in data._producers if id(p) in members)
            pairs.update((u.name, step.name) for u in step._run_after if id(u) in members)
        pairs.update((a.name, b.name) for a, b in self._sequence_edges)
        return sorted(pairs)

    def parameters(self) -> dict[str, PipelineParameter]:
        """Every PipelineParameter the steps use, by name."""
        found: dict[str, PipelineParameter] = {}
        for step in self._steps:
            for param in step.parameters():
                found.setdefault(param.name, param)
        return found

    def data_path_inputs(self) -> set[str]:
        """The names of the DataReference inputs a run may repoint (DataPath parameters among them)."""
        return {
            name
            for step in self._steps
            for item, name in zip(step.inputs, step.input_names(), strict=True)
            if type(input_data(item)) is DataReference
        }

    def dataset_parameters(self) -> dict[str, PipelineParameter]:
        """The PipelineParameters whose values are datasets (those of the steps' dataset inputs), by name."""
        return {
            item.parameter.name: item.parameter
            for step in self._steps
            for item in step.inputs
            if isinstance(item, DatasetConsumptionConfig) and item.parameter is not None
        }

    # -- checking ----------------------------------------------------------------------------------
    def validate(self) -> list[ValidationProblem]:
        """Every rule the pipeline breaks, one line each naming the step and the field; [] if none."""
        errors: list[ValidationProblem] = []

        def add(step: PipelineStep, field: str, message: str, item: str | None = None) -> None:
            errors.append(ValidationProblem(message, step.name, field, item))

        names: dict[str, PipelineStep] = {}
        for step in self._steps:
            if not _AIRFLOW_ID.match(step.name):
                add(step, "name", "is invalid: use up to 250 letters, digits, '_', '.' or '-'")
            if step.name in names:
                add(step, "name", "two steps have this name; step names must be unique in a pipeline")
            names[step.name] = step
            for field, message, *item in step.validate_wiring() + step.validate_step(self):
                add(step, field, message, *item)
        members = {id(s) for s in self._steps}
        for step in self._steps:
            for data in step.upstream_data():
                producers = [p for p in data._producers if id(p) in members]
                if not producers:
                    add(
                        step,
                        "inputs",
                        f"PipelineData {data.name!r} is consumed but no step of the pipeline produces it",
                        data.name,
                    )
            for output in step.outputs:
                producers = [p for p in getattr(output, "_producers", []) if id(p) in members]
                if len(producers) > 1 and producers[0] is not step:
                    others = ", ".join(repr(p.name) for p in producers if p is not step)
                    add(
                        step,
                        "outputs",
                        f"PipelineData {output.name!r} is already an output of step {others}",
                        output.name,
                    )
        seen_params: dict[str, PipelineParameter] = {}
        for step in self._steps:
            for param in step.parameters():
                for problem in param.problems():
                    add(step, "arguments", problem)
                first = seen_params.setdefault(param.name, param)
                if first is not param and first.default_value != param.default_value:
                    add(
                        step,
                        "arguments",
                        f"PipelineParameter {param.name!r} is declared twice with different defaults "
                        f"({first.default_value!r} and {param.default_value!r})",
                    )
        cycle = _find_cycle([s.name for s in self._steps], self.edges())
        if cycle:
            errors.append(ValidationProblem(f"the pipeline has a cycle: {' -> '.join(cycle)}", cycle[0], "inputs"))
        return errors

    def _check(self, name: str) -> None:
        if parsing_for_a_task():  # checked when the dag-processor parsed it; spares each task's start-up
            return
        errors = self.validate()
        if not _AIRFLOW_ID.match(name or ""):
            problem = f"pipeline name {name!r} is invalid: use up to 250 letters, digits, '_', '.' or '-'"
            errors.insert(0, ValidationProblem(problem))
        if errors:
            raise PipelineValidationError(errors, source=self.source_file)

    # -- publishing --------------------------------------------------------------------------------
    def as_dag(self, dag_id: str, **dag_kwargs: Any) -> DAG:
        """An Airflow DAG for this pipeline; ``dag_kwargs`` go to ``DAG`` (schedule, tags, ...)."""
        from amlflow.factory.dag_builder import build_dag

        self._check(dag_id)
        return build_dag(self, dag_id, **dag_kwargs)

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        continue_on_step_failure: bool | None = None,
        regenerate_outputs: bool = False,
        parent_run_id: str | None = None,
        credential_passthrough: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the pipeline in experiment ``experiment_name`` on the workspace's deployment; its ``PipelineRun``.

        Azure ML's default for ``continue_on_step_failure`` is False (running steps are cancelled when one
        fails); amlflow always lets the steps that do not depend on a failed step finish, so it takes
        None or True.
        """
        from amlflow.core.experiment import Experiment

        unknown = set(kwargs) - {"enable_email_notification"}
        if unknown:
            raise ValueError(f"parameter {sorted(unknown)[0]} is not recognized for Pipeline ")
        for name, value in (("parent_run_id", parent_run_id), ("credential_passthrough", credential_passthrough)):
            if value:
                raise UserErrorException(f"Pipeline.submit: {name} is not supported by amlflow; leave it out")
        return Experiment(self.workspace, experiment_name).submit(
            self,
            pipeline_parameters=pipeline_parameters,
            continue_on_step_failure=continue_on_step_failure,
            regenerate_outputs=regenerate_outputs,
        )

    def publish(
        self,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
    ) -> PublishedPipeline:
        """Publish: a pipeline that runs whenever triggered (its DAG created unpaused, as in Azure ML).

        In a DAG file (Airflow parsing it, or ``amlflow.pipeline.core.dag_file()``) this builds the DAG
        ``name`` there. Anywhere else (a notebook, a script) it sends the pipeline to the workspace's
        deployment (``amlflow.deployment``), which publishes it as ``<name>.<content hash>``: each
        published version keeps its own id and endpoint, as in Azure ML.
        """
        from amlflow.factory.dag_builder import build_dag

        if not parsing_dag_file():
            from amlflow import deployment

            return deployment.publish(self, name, description or self.description, version, continue_on_step_failure)
        self._check(name or "")
        description = description or self.description
        dag = build_dag(
            self,
            name,
            description=description,
            version=version,
            published=True,
        )
        return PublishedPipeline(
            name=name,
            graph_id=name,
            description=description,
            version=version,
            published_pipeline_id=name,
            status="Active",
            endpoint=None,
            total_run_steps=len(self._steps),
            workspace=self.workspace,
            continue_on_step_failure=continue_on_step_failure,
            dag=dag,
        )


def _find_cycle(nodes: Iterable[str], edges: list[tuple[str, str]]) -> list[str] | None:
    """One cycle as a path that starts and ends at the same step, or None."""
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in list(graph):
        if node not in state and (found := visit(node)):
            return found
    return None
