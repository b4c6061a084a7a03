"""Schedules, endpoints and drafts without a deployment: Azure ML's checks at Azure ML's moment, the registry's
records, and the scheduling DAG a schedule's definition builds (no network, no database)."""

from __future__ import annotations

import datetime
import re
import uuid
from types import SimpleNamespace

import pytest

from amlflow.core import Datastore, Workspace
from amlflow.factory import schedule_dag
from amlflow.pipeline.core import PipelineEndpoint, PipelineIdVersion, Schedule, ScheduleRecurrence, TimeZone
from amlflow.storage.records import RecordStore


@pytest.mark.parametrize(
    ("recurrence", "message"),
    [
        (dict(frequency="Minute", interval=1, hours=[22]), "Can only specify hours if frequency is Week or Day."),
        (dict(frequency="Hour", interval=1, minutes=[5]), "Can only specify minutes if frequency is Week or Day."),
        (dict(frequency="Day", interval=1, week_days=["Monday"]), "Can only specify week days if frequency is Week."),
        (dict(frequency="Fortnight", interval=1), "Invalid value for frequency, only one of Minute, Hour, Day"),
        (dict(frequency="Day", interval=0), "Interval must be an integer greater than 0."),
        (dict(frequency="Day", interval=1, hours=[24]), "Hours must be between 0 and 23."),
        (dict(frequency="Day", interval=1, minutes=[60]), "Minutes must be between 0 and 59."),
        (dict(frequency="Week", interval=1, week_days=["Funday"]), "Week days must be a list of str"),
        (dict(frequency="Day", interval=1, time_zone="UTC"), "Time zone is not a valid TimeZone enum."),
        (dict(frequency="Day", interval=1, start_time="tomorrow"), "is not in the format YYYY-MM-DDThh:mm:ss"),
    ],
)
def test_validate_refuses_what_azure_ml_refuses_with_its_message(recurrence, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ScheduleRecurrence(**recurrence).validate()


def test_the_constructor_refuses_what_azure_ml_refuses_at_once():
    aware = datetime.datetime(2026, 12, 2, 10, 0, tzinfo=datetime.UTC)
    with pytest.raises(ValueError, match=re.escape("Can not specify tzinfo for start_time, use time_zone instead.")):
        ScheduleRecurrence("Day", 1, start_time=aware)
    with pytest.raises(ValueError, match=re.escape("Can not specify time_of_day and hours or minutes.")):
        ScheduleRecurrence("Day", 1, hours=[1], time_of_day="10:30")
    with pytest.raises(ValueError, match=re.escape("time_of_day should be in the format hh:mm.")):
        ScheduleRecurrence("Day", 1, time_of_day="10h30")
    with pytest.raises(ValueError, match=re.escape("Time of day hour value must be between 0 and 23.")):
        ScheduleRecurrence("Day", 1, time_of_day="25:00")


def test_time_of_day_and_a_naive_start_time_become_what_azure_ml_sends():
    recurrence = ScheduleRecurrence("Week", 2, start_time=datetime.datetime(2026, 12, 2, 8), time_of_day="18:05")
    recurrence.validate()
    assert (recurrence.hours, recurrence.minutes) == ([18], [5])
    assert (recurrence.start_time, recurrence.time_zone) == ("2026-12-02T08:00:00", TimeZone.UTC)
    again = ScheduleRecurrence._from_wire(recurrence._to_wire())
    assert again._to_wire() == recurrence._to_wire()


def test_schedule_create_refuses_mixed_kinds_before_anything_is_sent(local_root):
    ws = Workspace()
    every_hour = ScheduleRecurrence("Hour", 1)
    local = Datastore(ws, "workspaceblobstore")  # a local datastore on this machine
    cases = [
        (dict(recurrence=every_hour, datastore=local), "Can not specify both a Recurrence and a Datastore"),
        (dict(recurrence=every_hour, data_path_parameter_name="p"), "Data Path parameter name can only be specified"),
        (dict(recurrence=every_hour, path_on_datastore="in"), "Path on datastore parameter can only be specified"),
        (dict(datastore=local), "Datastore must be of type AzureBlobDatastore"),
        (dict(recurrence=ScheduleRecurrence("Minute", 1, hours=[1])), "Can only specify hours"),
        ({}, "Specify either a recurrence or a datastore"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            Schedule.create(ws, "s", "pipeline.0123456789ab", "experiment", **options)


def test_an_endpoints_version_rules_are_checked_before_anything_is_sent():
    versions = [PipelineIdVersion("0", "a.1"), PipelineIdVersion("1", "b.2")]
    endpoint = PipelineEndpoint(Workspace(), "e-id", "E", None, "Disabled", "0", "http://x", versions)
    with pytest.raises(ValueError, match="Cannot set version 7, does not exist in pipeline endpoint e-id"):
        endpoint.set_default_version("7")
    with pytest.raises(ValueError, match=r"Cannot set pipeline, pipeline id c\.3 does not exist"):
        endpoint.set_default(SimpleNamespace(id="c.3"))
    with pytest.raises(ValueError, match="Status must be Active, its Disabled"):
        endpoint.submit("experiment")


def test_a_name_is_held_by_one_record_and_freed_by_a_rename(local_root):
    store = RecordStore("endpoints")
    assert store.claim_name("Scoring", "one") and not store.claim_name("Scoring", "two")
    assert store.claim_name("Scoring", "one")  # its own name again
    store.release_name("Scoring", "two")  # not its name: nothing changes
    assert store.id_of_name("Scoring") == "one"
    store.release_name("Scoring", "one")
    assert store.claim_name("Scoring", "two")
    store.put({"id": "b", "created": "2026-12-02T10:00:00"})
    store.put({"id": "a", "created": "2026-12-02T11:00:00"})
    assert [r["id"] for r in store.all()] == ["b", "a"]
    assert store.get("../b") is None and store.get("missing") is None


def _definition(**kind):
    return {
        "schedule_id": "s-1",
        "name": "nightly",
        "description": None,
        "dag_id": "amlflow_schedule.s-1",
        "target_dag_id": "Scoring.0123456789ab",
        "conf": {"greeting": "hi", "amlflow": {"experiment_name": "e", "schedule_id": "s-1"}},
        "active": True,
        **kind,
    }


RECURRENCE = {
    "frequency": "Day",
    "interval": 2,
    "start_time": "2026-12-02T08:00:00",
    "time_zone": "Europe/Berlin",
    "hours": [22],
    "minutes": [30],
    "week_days": None,
}
WATCH = {
    "datastore": "workspaceblobstore",
    "path_on_datastore": "incoming",
    "polling_seconds": 6.0,
    "state_path": "amlflow/schedules/s-1/blob-changes.json",
    "data_path_parameter_name": "input_datapath",
}


def test_a_recurrence_is_the_scheduling_dags_timetable_and_its_run_carries_the_schedules_conf(monkeypatch):
    dag = schedule_dag.schedule_dag(_definition(recurrence=RECURRENCE, watch=None))
    assert dag.timetable.summary == "every 2 days at 22:30 (Europe/Berlin)"
    assert set(dag.task_ids) == {"runs", "submit"} and not dag.is_paused_upon_creation
    assert dag.get_task("submit").partial_kwargs["trigger_dag_id"] == "Scoring.0123456789ab"
    context = {"run_id": "scheduled__2026-12-04T21:30:00+00:00", "triggering_asset_events": {}}
    monkeypatch.setattr("airflow.sdk.get_current_context", lambda: context)
    [run] = schedule_dag.runs_to_start(_definition(recurrence=RECURRENCE, watch=None))
    assert run["conf"]["greeting"] == "hi"
    assert run["trigger_run_id"] == str(
        uuid.uuid5(schedule_dag.RUN_ID_NAMESPACE, f"amlflow_schedule.s-1/{context['run_id']}")
    )


def test_each_changed_blob_starts_one_run_given_its_path_and_a_change_reported_twice_one(monkeypatch):
    dag = schedule_dag.schedule_dag(_definition(recurrence=None, watch=WATCH))
    [asset] = dag.timetable.asset_condition.objects
    assert asset.uri == "amlflow-schedule://s-1/" and asset.watchers
    changes = [{"path": "incoming/a.csv", "event_id": "e1"}, {"path": "incoming/b.csv", "event_id": "e2"}]
    events = [SimpleNamespace(extra={"from_trigger": True, "payload": p}) for p in [*changes, changes[0], {}]]
    context = {"run_id": "asset_triggered__1", "triggering_asset_events": {asset: events}}
    monkeypatch.setattr("airflow.sdk.get_current_context", lambda: context)
    runs = schedule_dag.runs_to_start(_definition(recurrence=None, watch=WATCH))
    paths = [r["conf"]["amlflow"]["data_paths"]["input_datapath"]["path"] for r in runs]
    assert paths == ["incoming/a.csv", "incoming/b.csv", "incoming/a.csv"]
    assert runs[0]["trigger_run_id"] == runs[2]["trigger_run_id"] != runs[1]["trigger_run_id"]
    assert runs[0]["conf"]["greeting"] == "hi" and "data_paths" not in _definition()["conf"]["amlflow"]
