"""``Pipeline`` -> Airflow DAG: one task per step, one Param per PipelineParameter, edges from data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlflow.factory.assets import output_asset_uri, step_assets
from amlflow.factory.step_specs import input_specs, output_specs
from amlflow.runtime import run_conf
from amlflow.runtime.limits import parameter_schema

if TYPE_CHECKING:
    from airflow.sdk import DAG, BaseOperator

    from amlflow.pipeline.core.builder import PipelineStep
    from amlflow.pipeline.core.pipeline import Pipeline

#: DAG tags: every amlflow DAG, those published (listed by the AML-compatible endpoint), those submitted
#: to an experiment from a notebook (``Experiment.submit``), and the experiment's name.
TAG = "amlflow"
PUBLISHED_TAG = "amlflow:published"
SUBMITTED_TAG = "amlflow:submitted"
EXPERIMENT_TAG_PREFIX = "experiment:"
#: Airflow keeps at most this many characters of a tag.
TAG_MAX_LENGTH = 100


def build_dag(
    pipeline: Pipeline,
    dag_id: str,
    *,
    description: str | None = None,
    version: str | None = None,
    published: bool = False,
    experiment: str | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """The DAG of ``pipeline``: published (runs when triggered, listed as a published pipeline), or
    submitted to ``experiment`` (runs when triggered), or neither (``as_dag``: Airflow's defaults)."""
    from airflow.sdk import DAG, Param

    specs = {
        step.name: (input_specs(step), output_specs(step, pipeline.default_datastore_name)) for step in pipeline.steps
    }
    params = {
        name: Param(
            p.default_value, type=p.json_type, description=f"PipelineParameter {name}", **parameter_schema(p.json_type)
        )
        for name, p in sorted(pipeline.parameters().items())
    }
    params[run_conf.KEY] = run_conf.options_param(
        *_data_path_targets(pipeline, specs), dataset_parameters=pipeline.dataset_parameters()
    )
    tags = {TAG, *dag_kwargs.pop("tags", ())}
    if published:
        tags.add(PUBLISHED_TAG)
    if experiment:
        tags.update((SUBMITTED_TAG, (EXPERIMENT_TAG_PREFIX + experiment)[:TAG_MAX_LENGTH]))
    if published or experiment:
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
    data_assets = _data_assets(dag_id, pipeline, specs)
    with DAG(dag_id=dag_id, params=params, tags=tags, **dag_kwargs) as dag:
        tasks = {
            step.name: _task(dag, step, pipeline, *specs[step.name], data_assets[step.name]) for step in pipeline.steps
        }
        for upstream, downstream in pipeline.edges():
            tasks[upstream] >> tasks[downstream]
    return dag


def _data_path_targets(
    pipeline: Pipeline, specs: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]
) -> tuple[dict[str, str], set[str]]:
    """The DataReference inputs a run may repoint (name -> declared datastore), and the datastores it may name.

    Those are the datastores the pipeline itself reads or writes, its default, and ``[amlflow]
    assignable_datastores``: whoever may trigger the pipeline already makes it use them, so a request
    reaches no datastore the pipeline's author did not give it.
    """
    from amlflow import config

    inputs: dict[str, str] = {}
    datastores = {pipeline.default_datastore_name or config.get("default_datastore")}
    datastores.update(name.strip() for name in config.get("assignable_datastores").split(",") if name.strip())
    for step in pipeline.steps:
        step_inputs, step_outputs = specs[step.name]
        for spec in step_inputs:
            if spec["kind"] == "DataReference":
                inputs.setdefault(spec["name"], spec["datastore"])
                datastores.add(spec["datastore"])
            elif spec["kind"] == "Dataset":
                sources = spec["dataset"]["definition"].get("sources", [])
                datastores.update(source["datastore"] for source in sources if "datastore" in source)
        datastores.update(spec["datastore"] for spec in step_outputs if spec["datastore"])
        destination = getattr(step, "destination", None)
        if destination is not None:
            datastores.add(destination.datastore.name)
    return inputs, datastores


def _data_assets(
    dag_id: str, pipeline: Pipeline, specs: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]
) -> dict[str, dict[str, list[Any]]]:
    """Each step's ``inlets`` and ``outlets``: the assets of what it reads and writes."""
    from amlflow import config

    default = pipeline.default_datastore_name or config.get("default_datastore")
    produced = {
        (step.name, spec["name"]): output_asset_uri(dag_id, step.name, spec, default)
        for step in pipeline.steps
        for spec in specs[step.name][1]
    }
    found = {}
    for step in pipeline.steps:
        inlets, outlets = step_assets(dag_id, step.name, *specs[step.name], produced, default)
        found[step.name] = {"inlets": inlets, "outlets": outlets}
    return found


def _task(
    dag: DAG,
    step: PipelineStep,
    pipeline: Pipeline,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    assets: dict[str, list[Any]],
) -> BaseOperator:
    from amlflow.core.compute import resolve_compute
    from amlflow.factory.translators import translator_for

    compute = resolve_compute(pipeline.workspace, getattr(step, "compute_target", None))
    placement = compute.task_placement() if compute is not None else {}
    placement.pop("pool_slots_total", None)
    # The DAG is given, not taken from Airflow's DAG context: that context is one for the whole process, and
    # the api-server parses several definitions at once in its threads.
    common = {
        "dag": dag,
        "task_id": step.name,
        "compute_target": _compute_spec(compute),
        "allow_reuse": getattr(step, "allow_reuse", True),
        "inputs": inputs,
        "outputs": outputs,
        **assets,
        **placement,
    }
    return translator_for(step)(step, pipeline, common)


def _compute_spec(compute: Any) -> dict[str, Any] | None:
    if compute is None:
        return None
    spec = {"name": compute.name, "type": compute.type}
    spec.update({k: v for k, v in compute.task_placement().items() if k == "pool_slots_total"})
    return spec
