"""The pipeline view's JSON: one run of a pipeline as a person looks at it (steps, reuse, outputs, metrics).

``GET /amlflow/view/v1.0/dags/{dag_id}/runs/{run_id}``, for anyone who may read the DAG's runs, answers::

    {"pipeline": {"id", "name", "description"},
     "run": {"id", "status", "state", "experiment", "parameters", "start", "end", "seconds"},
     "steps": [{"name", "status", "state", "start", "end", "seconds", "try_number", "upstream",
                "reused": {"dag_id", "run_id", "task_id"} or null,
                "outputs": {name: {"datastore", "path", "uri"}},
                "databricks_run_page": the Databricks run's page (a DatabricksStep) or null,
                "metrics": {name: value, list, row list or table},
                "log": "dags/<dag_id>/runs/<run_id>/tasks/<task_id>"}]}

Statuses are Azure ML's (``entities``); ``log`` is the task's page in Airflow's UI, relative to its base
URL. Everything comes from what the run left: its task instances, its steps' XComs, and the metrics
files in the default datastore (a reused step shows the metrics of the run it reused, as
``StepRun.get_metrics`` does). Steps are in graph order: every step after the steps it reads from.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.dagbag import DagBagDep
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.models import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.providers.databricks.operators.databricks import XCOM_RUN_PAGE_URL_KEY
from fastapi import Depends, HTTPException, status
from sqlalchemy import select

from amlflow.api import entities
from amlflow.api.urls import RUN_VIEW_PATH
from amlflow.factory.parallel_run_tasks import HELPER_TASK_TYPES
from amlflow.runtime import run_conf
from amlflow.runtime.artifacts import read_metrics
from amlflow.runtime.reuse import REUSE_XCOM_KEY
from amlflow.storage.location import DataLocation

PATH = RUN_VIEW_PATH
DEPENDENCIES = [Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN))]


def get_run_view(dag_id: str, run_id: str, session: SessionDep, dag_bag: DagBagDep) -> dict[str, Any]:
    """The view of run ``run_id`` of pipeline ``dag_id``; 404 naming what is missing."""
    dag_run = existing_run(session, dag_id, run_id)
    dag = dag_bag.get_dag_for_run(dag_run, session=session)
    query = select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    tis = {ti.task_id: ti for ti in session.scalars(query)}
    xcoms = _step_xcoms(session, dag_id, run_id)
    failed = sorted(task_id for task_id, ti in tis.items() if entities.step_status_code(ti.state) == "Failed")
    return {
        "pipeline": {"id": dag_id, "name": dag.dag_display_name, "description": dag.description},
        "run": _run(dag_run, dag, failed),
        "steps": [
            _step(dag_id, run_id, task_id, tis.get(task_id), xcoms.get(task_id, {}), upstream)
            for task_id, upstream in _steps_in_graph_order(dag)
        ],
    }


def existing_run(session: Any, dag_id: str, run_id: str) -> DagRun:
    """Run ``run_id`` of ``dag_id``, or HTTP 404 naming both."""
    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dag_run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"pipeline {dag_id!r} has no run {run_id!r}")
    return dag_run


def output_location(session: Any, dag_id: str, run_id: str, step: str, output: str) -> DataLocation:
    """Where output ``output`` of ``step`` in this run is (a reused step's: the run it reused), or HTTP 404."""
    existing_run(session, dag_id, run_id)
    value = _step_xcoms(session, dag_id, run_id).get(step, {}).get(output)
    if not DataLocation.is_xcom(value):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"step {step!r} of run {run_id!r} has no output {output!r}")
    return DataLocation.from_xcom(value)


def _run(dag_run: Any, dag: Any, failed: list[str]) -> dict[str, Any]:
    conf = dag_run.conf or {}
    return {
        "id": dag_run.run_id,
        "status": entities.run_status_code(dag_run.state, conf, failed),
        "state": entities.state_text(dag_run.state),
        "experiment": run_conf.section(conf).get("experiment_name"),
        "parameters": _parameters(conf, dag),
        **_times(dag_run.start_date, dag_run.end_date),
    }


def _parameters(conf: dict[str, Any], dag: Any) -> dict[str, Any]:
    """The pipeline parameters' values in this run: the run's, else the defaults."""
    return {name: conf.get(name, dag.params[name]) for name in run_conf.pipeline_parameter_names(dag.params)}


def _step(
    dag_id: str, run_id: str, task_id: str, ti: Any, xcoms: dict[str, Any], upstream: list[str]
) -> dict[str, Any]:
    reuse = xcoms.get(REUSE_XCOM_KEY)
    reused = (
        {"dag_id": reuse["reused_dag_id"], "run_id": reuse["reused_run_id"], "task_id": reuse["reused_task_id"]}
        if isinstance(reuse, dict) and reuse.get("reused")
        else None
    )
    owner = (reused["dag_id"], reused["run_id"], reused["task_id"]) if reused else (dag_id, run_id, task_id)
    ended = ti is not None and entities.step_status_code(ti.state) in ("Finished", "Failed")
    outputs = {
        key: {"datastore": location.datastore, "path": location.path, "uri": location.uri}
        for key, value in sorted(xcoms.items())
        if DataLocation.is_xcom(value)
        for location in [DataLocation.from_xcom(value)]
    }
    return {
        "name": task_id,
        "status": entities.step_status_code(ti.state if ti is not None else None),
        "state": entities.state_text(ti.state) if ti is not None else None,
        "try_number": ti.try_number if ti is not None else 0,
        "upstream": upstream,
        "reused": reused,
        "outputs": outputs,
        "databricks_run_page": xcoms.get(XCOM_RUN_PAGE_URL_KEY),
        # Metrics are files of the step run (or of the run it reused), stored when its script ends.
        "metrics": read_metrics(*owner) if ended else {},
        "log": f"dags/{dag_id}/runs/{run_id}/tasks/{task_id}",
        **(_times(ti.start_date, ti.end_date) if ti is not None else _times(None, None)),
    }


def _step_xcoms(session: Any, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Task id -> its XComs (key -> value) in this run, of the keys a step leaves (outputs and reuse)."""
    found: dict[str, dict[str, Any]] = {}
    rows = session.scalars(
        select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.map_index == -1)
    )
    for row in rows:
        value = entities.xcom_value(row.value)
        if row.key in (REUSE_XCOM_KEY, XCOM_RUN_PAGE_URL_KEY) or DataLocation.is_xcom(value):
            found.setdefault(row.task_id, {})[row.key] = value
    return found


def _steps_in_graph_order(dag: Any) -> list[tuple[str, list[str]]]:
    """Each step's task id with the steps it reads from, in layers (a step after all it reads from; by name
    within a layer). A ParallelRunStep's parts are looked through: its step is the task that ends it."""
    steps = [task for task in dag.tasks if task.task_type not in HELPER_TASK_TYPES]
    upstream = {task.task_id: sorted(_upstream_steps(dag, task)) for task in steps}
    ordered: list[str] = []
    while len(ordered) < len(upstream):  # a DAG has no cycle: every layer has a step
        placed = set(ordered)
        ordered += sorted(step for step, reads in upstream.items() if step not in placed and placed.issuperset(reads))
    return [(step, upstream[step]) for step in ordered]


def _upstream_steps(dag: Any, task: Any) -> set[str]:
    found: set[str] = set()
    for upstream_id in task.upstream_task_ids:
        upstream = dag.get_task(upstream_id)
        if upstream.task_type in HELPER_TASK_TYPES:
            found |= _upstream_steps(dag, upstream)
        else:
            found.add(upstream_id)
    return found


def _times(start: Any, end: Any) -> dict[str, Any]:
    seconds = round((end - start).total_seconds(), 3) if start is not None and end is not None else None
    return {"start": entities.iso_time(start), "end": entities.iso_time(end), "seconds": seconds}
