"""``Pipeline`` -> Airflow DAG: one task per step, one Param per PipelineParameter, edges from data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlflow.factory.step_specs import input_specs, output_specs

if TYPE_CHECKING:
    from airflow.sdk import DAG, BaseOperator

    from amlflow.pipeline.core.builder import PipelineStep
    from amlflow.pipeline.core.pipeline import Pipeline

#: DAG tags: every amlflow DAG, and those published (listed by the AML-compatible endpoint).
TAG = "amlflow"
PUBLISHED_TAG = "amlflow:published"


def build_dag(
    pipeline: Pipeline,
    dag_id: str,
    *,
    description: str | None = None,
    version: str | None = None,
    published: bool = False,
    **dag_kwargs: Any,
) -> DAG:
    from airflow.sdk import DAG, Param

    params = {
        name: Param(p.default_value, type=p.json_type, description=f"PipelineParameter {name}")
        for name, p in sorted(pipeline.parameters().items())
    }
    tags = {TAG, *dag_kwargs.pop("tags", ())}
    if published:
        tags.add(PUBLISHED_TAG)
        dag_kwargs.setdefault("is_paused_upon_creation", False)
    if version:
        tags.add(f"version:{version}")
    description = description or pipeline.description
    dag_kwargs.setdefault("schedule", None)
    # No ``fail_fast``: in Airflow 3.3 it skips the remaining steps and, all leaves being skipped, ends the
    # run as success. Steps that do not depend on a failed step run to the end (AML's
    # continue_on_step_failure=True); the run fails.
    dag_kwargs.setdefault("doc_md", description)
    dag_kwargs.setdefault("description", (description or "").splitlines()[0][:200] if description else None)
    with DAG(dag_id=dag_id, params=params, tags=tags, **dag_kwargs) as dag:
        tasks = {step.name: _task(step, pipeline) for step in pipeline.steps}
        for upstream, downstream in pipeline.edges():
            tasks[upstream] >> tasks[downstream]
    return dag


def _task(step: PipelineStep, pipeline: Pipeline) -> BaseOperator:
    from amlflow.core.compute import resolve_compute
    from amlflow.factory.translators import translator_for

    compute = resolve_compute(pipeline.workspace, getattr(step, "compute_target", None))
    placement = compute.task_placement() if compute is not None else {}
    placement.pop("pool_slots_total", None)
    common = {
        "task_id": step.name,
        "compute_target": _compute_spec(compute),
        "allow_reuse": getattr(step, "allow_reuse", True),
        "inputs": input_specs(step),
        "outputs": output_specs(step, pipeline.default_datastore_name),
        **placement,
    }
    return translator_for(step)(step, pipeline, common)


def _compute_spec(compute: Any) -> dict[str, Any] | None:
    if compute is None:
        return None
    spec = {"name": compute.name, "type": compute.type}
    spec.update({k: v for k, v in compute.task_placement().items() if k == "pool_slots_total"})
    return spec
