"""One translator per step kind: a definition object -> the Airflow operator that runs it.

``amlflow.step_kinds`` names the translator of each kind (ParallelRunStep's, a task group, lives in
``parallel_run_tasks``).

A translator receives the step, its pipeline and the arguments every step operator takes (task id,
compute placement, input and output specs) and returns the operator. Operators are imported inside
the translators, so declaring a pipeline never imports an operator it does not use.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amlflow.factory.containers import container_arguments
from amlflow.factory.step_specs import argument_specs, data_value_spec, value_spec

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, TaskGroup

    from amlflow.pipeline.core.builder import PipelineStep
    from amlflow.pipeline.core.pipeline import Pipeline

#: A translator returns the step's operator, or the task group of a step made of several tasks.
Translator = Callable[["PipelineStep", "Pipeline", dict[str, Any]], "BaseOperator | TaskGroup"]


def python_script_task(step: Any, pipeline: Pipeline, common: dict[str, Any]) -> BaseOperator:
    """The operator of a PythonScriptStep: ``DockerStepOperator`` when it runs in a container, else
    ``PythonScriptStepOperator``.
    """
    from amlflow.operators.python_script import PythonScriptStepOperator

    in_container, arguments = _script_arguments(step, pipeline, common)
    operator_class: type[BaseOperator] = PythonScriptStepOperator
    if in_container:  # a DockerCompute target, or a runconfig with Docker on
        from amlflow.operators.docker import DockerStepOperator

        operator_class = DockerStepOperator
    return operator_class(script_name=step.script_name, **arguments)


def command_task(step: Any, pipeline: Pipeline, common: dict[str, Any]) -> BaseOperator:
    """A CommandStep: a PythonScriptStep's operator arguments, with the command line for the script."""
    from amlflow.operators.command import CommandStepOperator

    in_container, arguments = _script_arguments(step, pipeline, common)
    operator_class: type[BaseOperator] = CommandStepOperator
    if in_container:
        from amlflow.operators.docker_command import DockerCommandStepOperator

        operator_class = DockerCommandStepOperator
    seconds = step.max_run_duration_seconds()
    if seconds is not None:  # ScriptRunConfig(max_run_duration_seconds=...): the task's own time limit
        arguments = {**arguments, "execution_timeout": datetime.timedelta(seconds=seconds)}
    return operator_class(command_line=step.command_line, **arguments)


def _script_arguments(step: Any, pipeline: Pipeline, common: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Whether the step runs in a container, and its operator's arguments but the script (or command)."""
    from amlflow.pipeline.steps.python_script_step import parameter_env_name

    env_params = {parameter_env_name(p.name): value_spec(p) for p in step.parameters()}
    env_params.update({parameter_env_name(k): value_spec(v) for k, v in step.params.items()})
    container = container_arguments(step, pipeline, common)
    declared = {} if container is not None else _declared_environment(step)
    return container is not None, {
        "source_directory": step.source_directory(pipeline.default_source_directory),
        "arguments": argument_specs(step),
        "step_params": env_params,
        **({"environment_variables": declared} if declared else {}),
        **(container or {}),
        **common,
    }


def _declared_environment(step: Any) -> dict[str, str]:
    """What the step's environment declares for a script run in the worker (a container has it in its recipe)."""
    environment = getattr(getattr(step, "runconfig", None), "environment", None)
    return {str(k): str(v) for k, v in (getattr(environment, "environment_variables", None) or {}).items()}


def adla_task(step: Any, pipeline: Pipeline, common: dict[str, Any]) -> BaseOperator:
    """The operator of an AdlaStep, placed on the ADLA account of its compute target."""
    from amlflow.core.compute import resolve_compute
    from amlflow.operators.adla import AdlaStepOperator

    target = resolve_compute(pipeline.workspace, step.compute_target)
    return AdlaStepOperator(
        script_name=step.script_name,
        source_directory=step.source_directory(pipeline.default_source_directory),
        adla_conn_id=target.adla_conn_id,
        account_name=target.account_name,
        step_params={key: value_spec(value) for key, value in step.params.items()},
        degree_of_parallelism=step.degree_of_parallelism,
        priority=step.priority,
        runtime_version=step.runtime_version,
        **common,
    )


def databricks_task(step: Any, pipeline: Pipeline, common: dict[str, Any]) -> BaseOperator:
    """The operator of a DatabricksStep: the step's Jobs API pieces (entry point, cluster, libraries), its connection
    and its limits. The operator completes the ``runs/submit`` body when it runs, with the data's URIs.
    """
    from amlflow.operators.databricks import DatabricksStepOperator

    return DatabricksStepOperator(
        entry=step.entry_spec(data_value_spec(step), pipeline.default_source_directory),
        cluster=step.cluster_spec(),
        step_libraries=step.library_specs(),
        databricks_conn_id=common["compute_target"]["name"],
        run_name=step.run_name or step.name,
        timeout_seconds=step.timeout_seconds,
        permit_cluster_restart=step.permit_cluster_restart,
        **common,
    )


def data_transfer_task(step: Any, pipeline: Pipeline, common: dict[str, Any]) -> BaseOperator:
    """The operator of a DataTransferStep: the copy to its destination."""
    from amlflow.operators.data_transfer import DataTransferStepOperator

    destination = step.destination
    return DataTransferStepOperator(
        destination={
            "datastore": destination.datastore.name,
            "path": destination.path_on_datastore or "",
            "overwrite": bool(destination.overwrite),
        },
        source_reference_type=step.source_reference_type,
        destination_reference_type=step.destination_reference_type,
        **common,
    )


def translator_for(step: PipelineStep) -> Translator:
    """The translator of the step's kind (``amlflow.step_kinds``); ``TypeError`` for a kind amlflow cannot run."""
    from amlflow.step_kinds import STEP_KINDS

    try:
        kind = STEP_KINDS[step.kind]
    except KeyError:
        raise TypeError(f"step {step.name!r}: amlflow cannot run steps of kind {step.kind}") from None
    return kind.translator_function()
