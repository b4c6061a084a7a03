"""Airflow DAGs, runs and task instances as the entities Azure ML's pipeline service answers with.

Azure ML reports a pipeline run as ``NotStarted``, ``Running``, ``Finished``, ``Failed`` or ``Canceled``
and a step the same way; Airflow's states map onto those here, and only here (the client reads them
from the endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from amlflow.api.urls import submit_path
from amlflow.factory.dag_builder import PUBLISHED_TAG, SUBMITTED_TAG
from amlflow.factory.parallel_run_tasks import HELPER_TASK_TYPES, step_names
from amlflow.runtime import run_conf

#: Airflow DagRun state -> Azure ML pipeline run status.
RUN_STATUS = {
    "queued": "NotStarted",
    "running": "Running",
    "success": "Finished",
    "failed": "Failed",
}

#: Airflow task instance state -> Azure ML step run status (None: created, not yet scheduled).
STEP_STATUS = {
    None: "NotStarted",
    "scheduled": "NotStarted",
    "queued": "Queued",
    "running": "Running",
    "deferred": "Running",
    "up_for_retry": "Running",
    "up_for_reschedule": "Running",
    "restarting": "Running",
    "awaiting_input": "Running",
    "success": "Finished",
    "failed": "Failed",
    # Not run because an upstream step failed or the run was stopped: Azure ML shows such steps as canceled.
    "upstream_failed": "Canceled",
    "skipped": "Canceled",
    "removed": "Canceled",
}


def iso_time(value: datetime | None) -> str | None:
    """A timestamp as ISO 8601 text (None stays None)."""
    return value.isoformat() if value is not None else None


def state_text(value: Any) -> str | None:
    """An Airflow state (enum or text) as its text (None stays None)."""
    return None if value is None else str(getattr(value, "value", value))


def run_status_code(state: Any, conf: dict[str, Any] | None, failed_steps: list[str] | None = None) -> str:
    """The Azure ML status of a run in Airflow ``state`` whose steps ``failed_steps`` failed.

    A failed step fails the run, whatever the run's Airflow state (a run cancelled by marking steps, or
    a DAG with ``fail_fast`` set by hand, can end ``success`` with a failed step).
    """
    code = RUN_STATUS.get(state_text(state) or "queued", "Running")
    if code == "Finished" and failed_steps:
        code = "Failed"
    if code == "Failed" and run_conf.section(conf).get("canceled"):
        return "Canceled"
    return code


def xcom_value(value: Any) -> Any:
    """An XCom column's value as read from the database: a dict may come back as its JSON text."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def step_status_code(state: Any) -> str:
    """Azure ML's step status code for an Airflow task instance state (an unknown state counts as running)."""
    return STEP_STATUS.get(state_text(state), "Running")


def is_step_task(ti: Any) -> bool:
    """Whether a task instance is a step's (not a part of a ParallelRunStep)."""
    return ti.operator not in HELPER_TASK_TYPES


def version_of(tags: list[str]) -> str | None:
    """The version in a DAG's ``version:<v>`` tag, or None if it has none."""
    return next((t.split(":", 1)[1] for t in tags if t.startswith("version:")), None)


def _input_specs(dag: Any, kind: str) -> Iterator[dict[str, Any]]:
    """The input specs of one kind of the pipeline's (serialized) tasks."""
    for task in dag.tasks:
        for spec in getattr(task, "inputs", None) or []:
            if isinstance(spec, dict) and spec.get("kind") == kind:
                yield spec


def data_reference_inputs(dag: Any) -> dict[str, dict[str, Any]]:
    """The pipeline's DataReference inputs by name."""
    found: dict[str, dict[str, Any]] = {}
    for spec in _input_specs(dag, "DataReference"):
        found.setdefault(spec["name"], spec)
    return found


def dataset_parameters(dag: Any) -> dict[str, dict[str, Any]]:
    """The pipeline's dataset parameters by name, each with the spec of an input that reads it."""
    found: dict[str, dict[str, Any]] = {}
    for spec in _input_specs(dag, "Dataset"):
        if spec.get("parameter"):
            found.setdefault(spec["parameter"], spec)
    return found


def published_pipeline_entity(dag_model: Any, dag: Any, base_url: str) -> dict[str, Any]:
    """Azure ML's PublishedPipeline entity for a DAG tagged ``amlflow:published``."""
    tags = sorted(t.name for t in dag_model.tags)
    return {
        "Id": dag_model.dag_id,
        # A pipeline published from a notebook has the name it was published under as its display name.
        "Name": dag_model.dag_display_name or dag_model.dag_id,
        "Description": dag.description or dag_model.description,
        "Version": version_of(tags),
        "Status": "Disabled" if dag_model.is_paused else "Active",
        "Url": base_url + submit_path(dag_model.dag_id),
        "GraphId": dag_model.dag_id,
        "TotalRunSteps": len(step_names(dag)),
        "StepNames": step_names(dag),
        "ContinueRunOnStepFailure": True,
        "Parameters": {name: dag.params[name] for name in run_conf.pipeline_parameter_names(dag.params)},
        "DataPathAssignments": {
            name: {"DataStoreName": spec["datastore"], "RelativePath": spec["path"]}
            for name, spec in sorted(data_reference_inputs(dag).items())
        },
        "Tags": tags,
    }


def is_published(dag_model: Any) -> bool:
    """Whether the DAG carries the tag that marks a published pipeline."""
    return any(t.name == PUBLISHED_TAG for t in dag_model.tags)


def is_submitted(dag_model: Any) -> bool:
    """A pipeline submitted to an experiment from a notebook (``Experiment.submit``)."""
    return any(t.name == SUBMITTED_TAG for t in dag_model.tags)


def pipeline_run_entity(dag_run: Any, dag: Any, failed_steps: list[str] | None = None) -> dict[str, Any]:
    """Azure ML's PipelineRunEntity for a DAG run (whether triggered here, over REST v2 or in the UI)."""
    conf = dag_run.conf or {}
    ours = run_conf.section(conf)
    code = run_status_code(dag_run.state, conf, failed_steps)
    detail = f"Airflow run state: {state_text(dag_run.state)}"
    if failed_steps:
        detail += f"; failed steps: {', '.join(failed_steps)}"
    data_paths = ours.get("data_paths", {})
    created = dag_run.queued_at or dag_run.run_after
    return {
        "Id": dag_run.run_id,
        "Description": ours.get("description"),
        "Status": {
            "StatusCode": code,
            "StatusDetail": detail,
            "CreationTime": iso_time(created),
            "EndTime": iso_time(dag_run.end_date),
        },
        "GraphId": dag_run.dag_id,
        "IsSubmitted": True,
        "HasErrors": code == "Failed",
        "HasWarnings": False,
        "UploadState": "Completed",
        "ParameterAssignments": {
            name: conf[name] for name in run_conf.pipeline_parameter_names(dag.params) if name in conf
        },
        "DataPathAssignments": {
            name: {"DataStoreName": where["datastore"], "RelativePath": where["path"]}
            for name, where in data_paths.items()
        },
        "RunHistoryExperimentName": ours.get("experiment_name"),
        "PipelineId": dag_run.dag_id,
        "RunSource": ours.get("run_source") or "Airflow",
        "RunType": ours.get("run_type") or state_text(dag_run.run_type),
        "TotalRunSteps": len(step_names(dag)),
        "ScheduleId": ours.get("schedule_id"),
        "tags": ours.get("tags", {}),
        "Properties": ours.get("properties", {}),
        "EntityStatus": "Active",
        "CreatedDate": iso_time(created),
        "LastModifiedDate": iso_time(dag_run.end_date or dag_run.start_date or created),
    }


def step_run_entity(ti: Any, reuse: dict[str, Any] | None) -> dict[str, Any]:
    """One step of a run: its status and, when its outputs came from an earlier run, from which."""
    return {
        "Name": ti.task_id,
        "Id": f"{ti.run_id}/{ti.task_id}",
        "PipelineRunId": ti.run_id,
        "Status": {
            "StatusCode": step_status_code(ti.state),
            "StatusDetail": f"Airflow task state: {state_text(ti.state)}",
            "StartTime": iso_time(ti.start_date),
            "EndTime": iso_time(ti.end_date),
        },
        "TryNumber": ti.try_number,
        "IsReused": bool(reuse),
        "Reused": reuse or None,
    }
