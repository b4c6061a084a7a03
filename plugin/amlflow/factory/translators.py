"""One translator per step kind: a definition object -> the Airflow operator that runs it.

A translator receives the step, its pipeline and the arguments every step operator takes (task id,
compute placement, input and output specs) and returns the operator. Operators are imported inside
the translators, so declaring a pipeline never imports an operator it does not use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amlflow.factory.step_specs import argument_specs, value_spec

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from amlflow.pipeline.core.builder import PipelineStep
    from amlflow.pipeline.core.pipeline import Pipeline

Translator = Callable[["PipelineStep", "Pipeline", dict[str, Any]], "BaseOperator"]


def python_script_task(step: Any, pipeline: Pipeline, common: dict[str, Any]) -> BaseOperator:
    from amlflow.operators.python_script import PythonScriptStepOperator
    from amlflow.pipeline.steps.python_script_step import parameter_env_name

    env_params = {parameter_env_name(p.name): value_spec(p) for p in step.parameters()}
    env_params.update({parameter_env_name(k): value_spec(v) for k, v in step.params.items()})
    return PythonScriptStepOperator(
        script_name=step.script_name,
        source_directory=step.source_directory(pipeline.default_source_directory),
        arguments=argument_specs(step),
        step_params=env_params,
        **common,
    )


#: step kind (``PipelineStep.kind``) -> translator
TRANSLATORS: dict[str, Translator] = {
    "PythonScriptStep": python_script_task,
}


def translator_for(step: PipelineStep) -> Translator:
    try:
        return TRANSLATORS[step.kind]
    except KeyError:
        raise TypeError(f"step {step.name!r}: amlflow cannot run steps of kind {step.kind}") from None
