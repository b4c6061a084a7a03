"""The DAG that runs one ``Schedule``: it fires on the schedule's recurrence or on blob changes, and triggers
the pipeline with the schedule's run conf.

Built from the definition the api-server writes into the pipeline bundle (``amlflow.api.schedules``)::

    {"schedule_id", "name", "description", "dag_id", "target_dag_id", "conf", "active",
     "recurrence": {RecurrenceTimetable's arguments} | null,
     "watch": {"datastore", "path_on_datastore", "polling_seconds", "state_path",
               "data_path_parameter_name"} | null}

Two tasks: ``runs`` says which runs to start (one for a recurrence; one per changed blob for a datastore
schedule, whose path goes to the data-path parameter), and ``submit`` starts each with Airflow's own
``TriggerDagRunOperator``, mapped over them, under a run id derived from the firing (or the change), so
a retried task, or a change reported twice, starts no second run. Nothing here touches the network or
the database: the DAG is parsed like any other.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from amlflow.factory.dag_builder import TAG

if TYPE_CHECKING:
    from airflow.sdk import DAG

SCHEDULE_TAG = "amlflow:schedule"
#: The namespace of the run ids a schedule gives the runs it starts.
RUN_ID_NAMESPACE = uuid.UUID("6f0a3c1e-4b7d-4e55-9a51-2a7c0e5b9d13")


def schedule_dag_id(schedule_id: str) -> str:
    """The id of the DAG that runs the schedule ``schedule_id``."""
    return f"amlflow_schedule.{schedule_id}"


def schedule_dag(definition: dict[str, Any]) -> DAG:
    """The scheduling DAG of ``definition`` (registered by Airflow when built in a DAG file)."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import DAG, task

    with DAG(
        dag_id=definition["dag_id"],
        dag_display_name=f"Schedule {definition['name']}",
        description=definition.get("description") or f"Runs {definition['target_dag_id']} ({definition['name']})",
        schedule=_schedule(definition),
        catchup=False,
        is_paused_upon_creation=not definition["active"],
        tags=[TAG, SCHEDULE_TAG],
        # One firing at a time: a firing's runs are started before the next is looked at.
        max_active_runs=1,
        default_args={"retries": 2},
    ) as dag:
        TriggerDagRunOperator.partial(
            task_id="submit",
            trigger_dag_id=definition["target_dag_id"],
            wait_for_completion=False,
            fail_when_dag_is_paused=True,
            skip_when_already_exists=True,
        ).expand_kwargs(task(task_id="runs")(runs_to_start)(definition))
    return dag


def _schedule(definition: dict[str, Any]) -> Any:
    if definition.get("recurrence"):
        from amlflow.timetables.recurrence import RecurrenceTimetable

        return RecurrenceTimetable(**definition["recurrence"])
    from airflow.sdk import Asset, AssetWatcher

    from amlflow.triggers.blob_changes import BlobChangeTrigger

    watch = definition["watch"]
    trigger = BlobChangeTrigger(
        datastore=watch["datastore"],
        state_path=watch["state_path"],
        path_on_datastore=watch["path_on_datastore"],
        polling_interval=watch["polling_seconds"],
        schedule_id=definition["schedule_id"],
    )
    name = definition["dag_id"]
    # An asset of the schedule's own: step outputs written under the watched folder are assets too, and
    # their events must not fire the schedule (Azure ML fires on each blob, not on each output).
    uri = f"amlflow-schedule://{definition['schedule_id']}"
    return [Asset(name=name, uri=uri, group="amlflow-schedule", watchers=[AssetWatcher(name=name, trigger=trigger)])]


def runs_to_start(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs this firing starts: their conf and run id (one per changed blob for a datastore schedule)."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    firing = f"{definition['dag_id']}/{context['run_id']}"
    watch = definition.get("watch")
    if not watch:
        return [_run(definition["conf"], firing)]
    runs = []
    for events in context["triggering_asset_events"].values():
        for event in events:
            payload = (event.extra or {}).get("payload") or {}
            if not payload.get("path"):
                continue
            conf = copy.deepcopy(definition["conf"])
            parameter = watch.get("data_path_parameter_name")
            if parameter:
                where = {"datastore": watch["datastore"], "path": payload["path"]}
                conf.setdefault("amlflow", {}).setdefault("data_paths", {})[parameter] = where
            # Named by the change, not by this firing: a change the watcher reports twice (it can, after a
            # triggerer restart) starts one run.
            runs.append(_run(conf, f"{definition['dag_id']}/{payload['event_id']}"))
    return runs


def _run(conf: dict[str, Any], firing: str) -> dict[str, Any]:
    return {"conf": conf, "trigger_run_id": str(uuid.uuid5(RUN_ID_NAMESPACE, firing))}
