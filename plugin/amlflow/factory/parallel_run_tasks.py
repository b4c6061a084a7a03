"""A ParallelRunStep as Airflow tasks: a task group of plan -> mini_batch (mapped) -> the step's own task.

The mapped task runs at most ``node_count * process_count_per_node`` mini-batches of a run at once
(``max_active_tis_per_dagrun``), in the compute target's pool and queue, so its mini-batches spread over the
workers that listen to that queue. A PipelineParameter for either count sets that limit from its default: a
run's own value reaches the entry script's settings but not Airflow's limit (see the README's differences).
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

from amlflow.factory.step_specs import data_value_spec, value_spec
from amlflow.pipeline.core.graph import PipelineParameter
from amlflow.runtime.tries import step_retry_arguments

#: the task types of the plan and mini-batch tasks: parts of a step, not steps (StepRuns leave them out)
HELPER_TASK_TYPES = frozenset({"ParallelRunPlanOperator", "ParallelRunMiniBatchOperator"})

if TYPE_CHECKING:
    from airflow.sdk import TaskGroup

    from amlflow.pipeline.core.pipeline import Pipeline
    from amlflow.pipeline.steps.parallel_run_step import ParallelRunStep


def step_names(dag: Any) -> list[str]:
    """A pipeline DAG's steps: its tasks but the parts of a ParallelRunStep (its plan and mini-batch tasks)."""
    return sorted(task.task_id for task in dag.tasks if task.task_type not in HELPER_TASK_TYPES)


def parallel_run_task_group(step: ParallelRunStep, pipeline: Pipeline, common: dict[str, Any]) -> TaskGroup:
    """The step's task group (its id ``<step>_parallel_run``): ``<step>.plan``, ``<step>.mini_batch``, ``<step>``."""
    from airflow.sdk import TaskGroup

    from amlflow.operators.parallel_run import (
        ParallelRunGatherOperator,
        ParallelRunMiniBatchOperator,
        ParallelRunPlanOperator,
    )

    config = step.parallel_run_config
    name = common.pop("task_id")
    pool, queue = common.pop("pool", None), common.pop("queue", None)
    inlets, outlets = common.pop("inlets", []), common.pop("outlets", [])
    shared = {
        "step_name": name,
        "entry_script": config.entry_script,
        "source_directory": step.source_directory(pipeline.default_source_directory),
        "arguments": [data_value_spec(step)(arg) for arg in step.arguments],
        "primary_inputs": step.primary_input_count,
        "parallel_config": _tunables(step),
        "environment_variables": {
            **{str(k): str(v) for k, v in (config.environment.environment_variables or {}).items()},
            **{str(k): str(v) for k, v in config.environment_variables.items()},
        },
        **common,
    }
    placement = {"queue": queue} if queue else {}
    retries: dict[str, Any] = {}
    ours = step_retry_arguments(retries)  # partial() passes no kwargs through the operator's __init__
    # A group key may hold no dots, which a step name may; the tasks keep their own ids (no prefix). Nothing
    # here uses Airflow's DAG or task group context (``with``): the api-server parses in several threads.
    dag = shared["dag"]
    group_id = re.sub(r"[^A-Za-z0-9_-]", "_", name) + "_parallel_run"
    group = TaskGroup(
        group_id=group_id,
        prefix_group_id=False,
        tooltip=f"ParallelRunStep {name}",
        dag=dag,
        parent_group=dag.task_group,
    )
    shared["task_group"] = group
    plan = ParallelRunPlanOperator(task_id=f"{name}.plan", inlets=inlets, **placement, **shared)
    runs = ParallelRunMiniBatchOperator.partial(
        task_id=f"{name}.mini_batch",
        max_active_tis_per_dagrun=_concurrency(step),
        map_index_template="{{ mini_batch_label }}",
        **({"pool": pool} if pool else {}),
        **placement,
        **retries,
        retries_are_ours=ours,
        **shared,
    ).expand(mini_batch=plan.output)
    gather = ParallelRunGatherOperator(task_id=name, trigger_rule="none_failed", outlets=outlets, **placement, **shared)
    runs >> gather
    return group


def _tunables(step: ParallelRunStep) -> dict[str, Any]:
    """The config's settings as the tasks read them: literals, or Jinja for PipelineParameters."""
    config = step.parallel_run_config
    keys = config.partition_keys
    return {
        "input_type": step.input_type,
        "mini_batch_size": _value(step.mini_batch_size()) if keys is None else None,
        "partition_keys": value_spec(keys)
        if isinstance(keys, PipelineParameter)
        else (json.dumps(keys) if keys else None),
        "error_threshold": config.error_threshold,
        "allowed_failed_count": config.allowed_failed_count,
        "allowed_failed_percent": config.allowed_failed_percent,
        "output_action": config.output_action,
        "append_row_file_name": config.row_file_name if config.output_action.lower() == "append_row" else None,
        "run_invocation_timeout": _value(config.run_invocation_timeout),
        "run_max_try": _value(config.run_max_try),
        "logging_level": _value(config.logging_level),
        "node_count": _value(config.node_count),
        "process_count_per_node": _value(_process_count(step)),
        "concurrency": _concurrency(step),
    }


def _value(value: Any) -> Any:
    return value_spec(value) if isinstance(value, PipelineParameter) else value


def _process_count(step: ParallelRunStep) -> int | PipelineParameter:
    # Azure ML's default for a CPU node: a process per core.
    return step.parallel_run_config.process_count_per_node or os.cpu_count() or 1


def _concurrency(step: ParallelRunStep) -> int:
    def default(value: Any) -> int:
        return int(value.default_value if isinstance(value, PipelineParameter) else value)

    return max(1, default(step.parallel_run_config.node_count) * default(_process_count(step)))
