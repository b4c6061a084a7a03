"""Schedules: a record in the registry, and a scheduling DAG in the pipeline bundle that Airflow runs.

Azure ML's ``Schedule``, kept as a record of the registry (``amlflow.storage.records``) with what
``Schedule.create`` was given, and made real as the DAG ``amlflow_schedule.<id>``
(``amlflow.factory.schedule_dag``): its definition holds the pipeline it triggers (for an endpoint
schedule, the endpoint's default version: :func:`follow_endpoint` rewrites it when that changes) and the
run conf, checked against that pipeline here, as a submission through the endpoint would be.

Routes (below ``/amlflow/pipelines/v1.0``): ``POST Schedules``, ``GET Schedules[?activeOnly=&pipelineId=
&pipelineEndpointId=]``, ``GET Schedules/{id}``, ``PATCH Schedules/{id}`` and ``GET PipelineRuns/Schedule/{id}``
(the runs it started, newest first). Creating or changing a schedule writes a DAG: it needs the rights
``amlflow.api.pipelines.requires_deploy`` asks for. ``Disabled`` pauses the scheduling DAG.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from airflow.api_fastapi.common.dagbag import DagBagDep, get_latest_version_of_dag
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.models import DagModel, DagRun
from fastapi import Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from amlflow.api import endpoints, entities, pipelines
from amlflow.api.submission import SubmissionError, parse, to_conf
from amlflow.api.transactions import committed
from amlflow.api.urls import SERVICE
from amlflow.factory.schedule_dag import schedule_dag_id
from amlflow.runtime import run_conf
from amlflow.storage.names import relative_path_problem
from amlflow.storage.records import RecordStore
from amlflow.triggers.blob_changes import default_state_path, record_baseline

LIST_PATH = f"{SERVICE}/Schedules"
ONE_PATH = f"{SERVICE}/Schedules/{{schedule_id}}"
RUNS_PATH = f"{SERVICE}/PipelineRuns/Schedule/{{schedule_id}}"
READ = [Depends(requires_access_dag(method="GET"))]
WRITE = [Depends(pipelines.requires_deploy)]
STORE = RecordStore("schedules")
#: The shortest polling interval, in minutes (amlflow accepts fractions of Azure ML's whole minutes).
MIN_POLLING_MINUTES = 0.05


class ScheduleChanges(BaseModel):
    """What ``Schedule.update`` (and ``enable``/``disable``) may change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=250)
    description: str | None = Field(default=None, max_length=16384)
    status: str | None = Field(default=None, pattern="^(Active|Disabled)$")
    recurrence: dict[str, Any] | None = None
    submission: dict[str, Any] | None = None
    continue_on_step_failure: bool | None = None
    datastore_name: str | None = None
    polling_interval: float | None = None
    data_path_parameter_name: str | None = None
    path_on_datastore: str | None = None


class ScheduleBody(ScheduleChanges):
    """What ``Schedule.create`` and ``Schedule.create_for_pipeline_endpoint`` send."""

    name: str = Field(min_length=1, max_length=250)
    experiment_name: str
    pipeline_id: str | None = None
    pipeline_endpoint_id: str | None = None
    submission: dict[str, Any] = Field(default_factory=dict)
    polling_interval: float | None = 5


ENTITY_FIELDS = (
    "id",
    "name",
    "description",
    "status",
    "pipeline_id",
    "pipeline_endpoint_id",
    "experiment_name",
    "recurrence",
    "datastore_name",
    "polling_interval",
    "data_path_parameter_name",
    "path_on_datastore",
    "continue_on_step_failure",
    "dag_id",
)


def _entity(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in ENTITY_FIELDS}


def _record(schedule_id: str) -> dict[str, Any]:
    record = STORE.get(schedule_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"schedule {schedule_id!r} not found")
    return record


def _bad(field: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, f"{field}: {message}")


def create_schedule(body: ScheduleBody, session: SessionDep, dag_bag: DagBagDep) -> dict[str, Any]:
    """Create a schedule (a recurrence or a datastore poll) of a published pipeline or endpoint and deploy its DAG; a
    schedule Airflow could not parse leaves nothing behind.
    """
    if (body.pipeline_id is None) == (body.pipeline_endpoint_id is None):
        raise _bad("pipeline_id", "give the published pipeline's id or the pipeline endpoint's id (one of them)")
    schedule_id = str(uuid.uuid4())
    record = {
        **body.model_dump(),
        "id": schedule_id,
        "status": body.status or "Active",
        "dag_id": schedule_dag_id(schedule_id),
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "targets": [],
    }
    if record["recurrence"] is None:
        record["recurrence"] = None
    else:
        record.update(datastore_name=None, polling_interval=None, data_path_parameter_name=None, path_on_datastore=None)
    with STORE.lock:
        try:
            _deploy(record, session, dag_bag, wait=True, baseline=True)
        except BaseException:
            # A schedule Airflow could not parse is no schedule: keep neither its DAG nor its record.
            pipelines.pipeline_store().remove_schedule(record["dag_id"])
            STORE.delete(schedule_id)
            raise
    return _entity(record)


def get_schedule(schedule_id: str) -> dict[str, Any]:
    """The schedule ``schedule_id`` as Azure ML's entity; 404 if there is none."""
    return _entity(_record(schedule_id))


def list_schedules(
    activeOnly: bool = True, pipelineId: str | None = None, pipelineEndpointId: str | None = None
) -> list[dict[str, Any]]:
    """Every schedule (active only unless ``activeOnly`` is false), filtered by pipeline or endpoint id when given."""
    found = []
    for record in STORE.all():
        if activeOnly and record["status"] != "Active":
            continue
        if pipelineId is not None and record.get("pipeline_id") != pipelineId:
            continue
        if pipelineEndpointId is not None and record.get("pipeline_endpoint_id") != pipelineEndpointId:
            continue
        found.append(_entity(record))
    return found


def update_schedule(
    schedule_id: str, changes: ScheduleChanges, session: SessionDep, dag_bag: DagBagDep
) -> dict[str, Any]:
    """Apply the given fields to a schedule and redeploy its DAG; a recurrence and a datastore schedule do not trade
    fields.
    """
    given = changes.model_dump(exclude_unset=True, exclude_none=True)
    with STORE.lock:
        record = _record(schedule_id)
        if "recurrence" in given and not record.get("recurrence"):
            raise _bad("recurrence", "Can not specify a recurrence for a Datastore schedule.")
        if "datastore_name" in given and record.get("recurrence"):
            raise _bad("datastore_name", "Can not specify a Datastore for a Recurrence schedule.")
        resumed = given.get("status") == "Active" and record["status"] != "Active"
        record.update(given)
        _deploy(record, session, dag_bag, wait=False, baseline=resumed)
    return _entity(record)


def schedule_runs(schedule_id: str, session: SessionDep, dag_bag: DagBagDep) -> list[dict[str, Any]]:
    """The runs the schedule started (of every pipeline it has triggered), newest first."""
    record = _record(schedule_id)
    runs = session.scalars(select(DagRun).where(DagRun.dag_id.in_(record["targets"])).order_by(DagRun.run_after.desc()))
    found = []
    for dag_run in runs:
        if run_conf.section(dag_run.conf).get("schedule_id") == schedule_id:
            found.append(entities.pipeline_run_entity(dag_run, dag_bag.get_dag_for_run(dag_run, session=session)))
    return found


def follow_endpoint(endpoint: dict[str, Any], session: Any, dag_bag: Any) -> None:
    """Point the schedules of ``endpoint`` at its default version (after ``set_default_version`` or ``add_default``)."""
    with STORE.lock:
        for record in STORE.all():
            if record.get("pipeline_endpoint_id") == endpoint["id"]:
                _deploy(record, session, dag_bag, wait=False)


def _deploy(record: dict[str, Any], session: Any, dag_bag: Any, wait: bool, baseline: bool = False) -> None:
    """Check the record, keep it, and write its scheduling DAG; with ``wait``, return once Airflow has parsed it;
    with ``baseline``, what its datastore holds now is what a datastore schedule's changes are counted from."""
    target = _target(record, session)
    dag = get_latest_version_of_dag(dag_bag, target, session)
    definition = {
        "schedule_id": record["id"],
        "name": record["name"],
        "description": record.get("description"),
        "dag_id": record["dag_id"],
        "target_dag_id": target,
        "conf": _conf(record, dag),
        "active": record["status"] == "Active",
        "recurrence": _timetable_arguments(record) if record.get("recurrence") else None,
        "watch": None if record.get("recurrence") else _watch(record, dag),
    }
    watch = definition["watch"]
    if watch and definition["active"] and baseline:
        # What is there when the schedule starts (or resumes) watching is not a change (Azure ML's rule).
        record_baseline(watch["datastore"], watch["path_on_datastore"], watch["state_path"])
    if target not in record["targets"]:
        record["targets"].append(target)
    store = pipelines.pipeline_store()
    started = datetime.now(UTC)
    STORE.put(record)
    store.write_schedule(record["dag_id"], json.dumps(definition, indent=1, sort_keys=True))
    pipelines.request_parse(store.bundle_name, f"{record['dag_id']}.py")
    if wait:
        pipelines.wait_until_parsed(record["dag_id"], store, since=started)
    model = session.get(DagModel, record["dag_id"])
    if model is not None:
        committed(session, lambda: setattr(model, "is_paused", not definition["active"]))


def _target(record: dict[str, Any], session: Any) -> str:
    """The DAG the schedule triggers: its published pipeline, or its endpoint's default version."""
    if record.get("pipeline_endpoint_id"):
        return endpoints.default_pipeline(endpoints.record_of(record["pipeline_endpoint_id"]))
    model = session.scalar(select(DagModel).where(DagModel.dag_id == record["pipeline_id"], ~DagModel.is_stale))
    if model is None or not entities.is_published(model):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"pipeline_id: published pipeline {record['pipeline_id']!r} not found"
        )
    return record["pipeline_id"]


def _conf(record: dict[str, Any], dag: Any) -> dict[str, Any]:
    """The run conf of the schedule's runs, checked against the pipeline as the endpoint checks a submission."""
    body = {
        **record.get("submission", {}),
        "ExperimentName": record["experiment_name"],
        "RunSource": "Schedule",
        "RunType": "Schedule",
        "ScheduleId": record["id"],
    }
    if record.get("continue_on_step_failure") is not None:
        body["ContinueRunOnStepFailure"] = record["continue_on_step_failure"]
    try:
        conf = to_conf(parse(json.dumps(body).encode()), dag)
    except SubmissionError as error:
        raise _bad("pipeline_parameters", str(error)) from None
    conf[run_conf.KEY]["schedule_id"] = record["id"]
    return conf


def _timetable_arguments(record: dict[str, Any]) -> dict[str, Any]:
    """``RecurrenceTimetable``'s arguments: the recurrence checked as Azure ML checks it, its zone as IANA's."""
    from amlflow.pipeline.core.schedule import ScheduleRecurrence
    from amlflow.pipeline.core.time_zone import TimeZone, iana_name

    wire = record["recurrence"]
    try:
        recurrence = ScheduleRecurrence._from_wire(wire)
        recurrence.validate()
    except KeyError:
        raise _bad("recurrence.time_zone", f"{wire.get('time_zone')!r} is not a TimeZone") from None
    except (TypeError, ValueError) as error:
        raise _bad("recurrence", str(error)) from None
    zone = iana_name(recurrence.time_zone) if recurrence.time_zone is not None else iana_name(TimeZone.UTC)
    # No start time: the first run is now, as in Azure ML ("the first workload is run instantly").
    start = recurrence.start_time or _local(record["created"], zone)
    return {
        "frequency": recurrence.frequency,
        "interval": recurrence.interval,
        "start_time": start,
        "time_zone": zone,
        "hours": recurrence.hours,
        "minutes": recurrence.minutes,
        "week_days": recurrence.week_days,
    }


def _local(instant: str, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(instant).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")


def _watch(record: dict[str, Any], dag: Any) -> dict[str, Any]:
    """What the blob watcher of a datastore schedule needs, each field checked."""
    from amlflow.storage.registry import lookup

    name = record.get("datastore_name")
    if not name:
        raise _bad("datastore_name", "a schedule needs a recurrence or a datastore to watch")
    found = lookup(name)
    if found is None:
        raise _bad("datastore_name", f"datastore {name!r} is not registered on this deployment")
    if found[1] != "AzureBlob":
        raise _bad("datastore_name", f"Datastore must be of type AzureBlobDatastore ({name!r} is {found[1]})")
    minutes = record.get("polling_interval")
    if minutes is None or minutes < MIN_POLLING_MINUTES:
        raise _bad("polling_interval", f"{minutes!r}: must be at least {MIN_POLLING_MINUTES} minutes")
    path = (record.get("path_on_datastore") or "").strip("/")
    problem = relative_path_problem(path) if path else None
    if problem:
        raise _bad("path_on_datastore", problem)
    parameter = record.get("data_path_parameter_name")
    if parameter:
        probe = {"DataPathAssignments": {parameter: {"DataStoreName": name, "RelativePath": f"{path}/x".lstrip("/")}}}
        try:
            to_conf(parse(json.dumps({"ExperimentName": record["experiment_name"], **probe}).encode()), dag)
        except SubmissionError as error:
            raise _bad("data_path_parameter_name", str(error)) from None
    return {
        "datastore": found[0],
        "path_on_datastore": path or None,
        "polling_seconds": minutes * 60,
        "state_path": default_state_path(record["id"]),
        "data_path_parameter_name": parameter,
    }
