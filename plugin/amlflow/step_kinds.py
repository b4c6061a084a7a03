"""The step kinds amlflow runs, one entry each: what defines the step, what turns it into Airflow tasks, what runs them.

Everything else that names step kinds is derived from this table: the translator a DAG is built with
(``factory/translators.py``), the YAML ``kind:`` values and their schema (``factory/yaml_kinds.py``), and the
operator modules of the provider info Airflow reads (``provider.py``). Tests check that
``amlflow.pipeline.steps`` exports every definition here and that every operator module on disk is listed.

Entries are dotted names, not objects, so that reading the table imports nothing: declaring a pipeline imports
no operator, and listing the provider info imports no step.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlflow.factory.translators import Translator
    from amlflow.pipeline.core.builder import PipelineStep


@dataclass(frozen=True)
class StepKind:
    """One step kind: its definition class, its translator and the operator modules its tasks run."""

    #: ``module:Class`` of the definition (a ``PipelineStep`` whose ``kind`` is the class name)
    definition: str
    #: ``module:function`` returning the step's operator (or task group); see ``factory.translators.Translator``
    translator: str
    #: the ``amlflow.operators`` modules whose operators the translator may return
    operators: tuple[str, ...]

    @property
    def name(self) -> str:
        """The kind's name: ``PipelineStep.kind``, the YAML ``kind:``, the class name."""
        return self.definition.rsplit(":", 1)[1]

    def definition_class(self) -> type[PipelineStep]:
        """The definition class, imported."""
        return _load(self.definition)

    def translator_function(self) -> Translator:
        """The translator, imported."""
        return _load(self.translator)


_STEPS = "amlflow.pipeline.steps"
_TRANSLATORS = "amlflow.factory.translators"

#: every step kind, by name
STEP_KINDS: dict[str, StepKind] = {
    kind.name: kind
    for kind in (
        StepKind(
            f"{_STEPS}.python_script_step:PythonScriptStep",
            f"{_TRANSLATORS}:python_script_task",
            ("amlflow.operators.python_script", "amlflow.operators.docker"),
        ),
        StepKind(
            f"{_STEPS}.command_step:CommandStep",
            f"{_TRANSLATORS}:command_task",
            ("amlflow.operators.command", "amlflow.operators.docker_command"),
        ),
        StepKind(
            f"{_STEPS}.databricks_step:DatabricksStep",
            f"{_TRANSLATORS}:databricks_task",
            ("amlflow.operators.databricks",),
        ),
        StepKind(f"{_STEPS}.adla_step:AdlaStep", f"{_TRANSLATORS}:adla_task", ("amlflow.operators.adla",)),
        StepKind(
            f"{_STEPS}.data_transfer_step:DataTransferStep",
            f"{_TRANSLATORS}:data_transfer_task",
            ("amlflow.operators.data_transfer",),
        ),
        StepKind(
            f"{_STEPS}.parallel_run_step:ParallelRunStep",
            "amlflow.factory.parallel_run_tasks:parallel_run_task_group",
            ("amlflow.operators.parallel_run",),
        ),
    )
}


def operator_modules() -> list[str]:
    """Every operator module of every step kind, sorted, each once."""
    return sorted({module for kind in STEP_KINDS.values() for module in kind.operators})


@functools.cache
def _load(dotted: str) -> Any:
    module_name, attribute = dotted.split(":")
    return getattr(importlib.import_module(module_name), attribute)
