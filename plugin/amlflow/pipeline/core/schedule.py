"""``Schedule`` and ``ScheduleRecurrence``: runs of a published pipeline on a recurrence or on blob changes.

As in ``azureml.pipeline.core.schedule``. A schedule is kept by the deployment (``amlflow.api.schedules``)
and runs as an Airflow DAG of its own, named ``amlflow_schedule.<schedule id>``, shown in the Airflow UI:

* a recurrence is that DAG's timetable (``amlflow.timetables.recurrence``), so the scheduler fires it;
* a datastore schedule is scheduled on an asset whose watcher (``amlflow.triggers.blob_changes``) polls
  the blob container in the triggerer: nothing holds a worker while waiting for a change.

Each firing triggers one run of the pipeline (one per changed blob) with the schedule's parameter values.
``disable()`` pauses the schedule's DAG, ``enable()`` resumes it. The validation, its messages and the
moment each is raised are Azure ML's.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

from amlflow.pipeline.core.graph import parameter_assignments
from amlflow.pipeline.core.time_zone import TimeZone

if TYPE_CHECKING:
    from amlflow.pipeline.core.run import PipelineRun

FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
STATUSES = ("Active", "Disabled")
_TIME_OF_DAY = re.compile(r"[0-9]{1,2}:[0-9]{2}$")


class ScheduleRecurrence:
    """How often a schedule fires: every ``interval`` ``frequency`` units, from ``start_time`` in ``time_zone``.

    ``hours``/``minutes`` (or ``time_of_day``, "hh:mm") pick the times of day of a "Day" or "Week"
    recurrence, ``week_days`` the days of a "Week" one. Without ``start_time`` the first run is at once.
    """

    def __init__(
        self,
        frequency: str,
        interval: int,
        start_time: datetime.datetime | str | None = None,
        time_zone: TimeZone | None = None,
        hours: list[int] | None = None,
        minutes: list[int] | None = None,
        week_days: list[str] | None = None,
        time_of_day: str | None = None,
    ) -> None:
        self.frequency = frequency
        self.interval = interval
        self.start_time: str | None = None
        if start_time is not None:
            if isinstance(start_time, datetime.datetime):
                if start_time.tzinfo is not None:
                    raise ValueError("Can not specify tzinfo for start_time, use time_zone instead.")
                self.start_time = start_time.strftime("%Y-%m-%dT%H:%M:%S")
            else:
                self.start_time = start_time
        self.time_zone = time_zone
        if self.start_time is not None and self.time_zone is None:
            self.time_zone = TimeZone.UTC
        self.hours = hours
        self.minutes = minutes
        if time_of_day is not None and (hours is not None or minutes is not None):
            raise ValueError("Can not specify time_of_day and hours or minutes.")
        if time_of_day is not None:
            if _TIME_OF_DAY.match(time_of_day) is None:
                raise ValueError("time_of_day should be in the format hh:mm.")
            hour, minute = (int(part) for part in time_of_day.split(":"))
            if not 0 <= hour <= 23:
                raise ValueError("Time of day hour value must be between 0 and 23.")
            if not 0 <= minute <= 59:
                raise ValueError("Time of day minute value must be between 0 and 59.")
            self.hours, self.minutes = [hour], [minute]
        self.week_days = week_days

    def validate(self) -> None:
        """Raise ValueError, with Azure ML's message, if the service would refuse this recurrence."""
        if self.frequency not in FREQUENCIES:
            raise ValueError("Invalid value for frequency, only one of Minute, Hour, Day, Week, or Month accepted")
        if not isinstance(self.interval, int) or isinstance(self.interval, bool) or self.interval < 1:
            raise ValueError("Interval must be an integer greater than 0.")
        if self.frequency not in ("Day", "Week") and self.hours is not None:
            raise ValueError("Can only specify hours if frequency is Week or Day.")
        if self.frequency not in ("Day", "Week") and self.minutes is not None:
            raise ValueError("Can only specify minutes if frequency is Week or Day.")
        if self.frequency != "Week" and self.week_days is not None:
            raise ValueError("Can only specify week days if frequency is Week.")
        if any(not isinstance(h, int) or not 0 <= h <= 23 for h in self.hours or []):
            raise ValueError("Hours must be between 0 and 23.")
        if any(not isinstance(m, int) or not 0 <= m <= 59 for m in self.minutes or []):
            raise ValueError("Minutes must be between 0 and 59.")
        if any(day not in WEEK_DAYS for day in self.week_days or []):
            raise ValueError(
                "Week days must be a list of str, accepted values: Monday, Tuesday, Wednesday, "
                "Thursday, Friday, Saturday, Sunday."
            )
        if self.time_zone is not None and not isinstance(self.time_zone, TimeZone):
            raise ValueError("Time zone is not a valid TimeZone enum.")
        if self.start_time is not None:
            if self.time_zone is None:
                raise ValueError("Must specify time_zone if start_time is provided.")
            try:
                datetime.datetime.strptime(self.start_time, "%Y-%m-%dT%H:%M:%S")
            except (TypeError, ValueError):
                raise ValueError(f"start_time {self.start_time!r} is not in the format YYYY-MM-DDThh:mm:ss.") from None

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self._to_wire().items() if value is not None)
        return f"ScheduleRecurrence({fields})"

    def _to_wire(self) -> dict[str, Any]:
        """The recurrence as the deployment keeps it (the time zone by its TimeZone member name)."""
        return {
            "frequency": self.frequency,
            "interval": self.interval,
            "start_time": self.start_time,
            "time_zone": self.time_zone.name if isinstance(self.time_zone, TimeZone) else self.time_zone,
            "hours": self.hours,
            "minutes": self.minutes,
            "week_days": self.week_days,
        }

    @classmethod
    def _from_wire(cls, wire: dict[str, Any]) -> ScheduleRecurrence:
        zone = wire.get("time_zone")
        return cls(
            wire["frequency"],
            wire["interval"],
            start_time=wire.get("start_time"),
            time_zone=TimeZone[zone] if zone else None,
            hours=wire.get("hours"),
            minutes=wire.get("minutes"),
            week_days=wire.get("week_days"),
        )


class Schedule:
    """A schedule of a published pipeline (or of a pipeline endpoint's default version), kept by the deployment."""

    def __init__(
        self,
        workspace: Any,
        id: str,
        name: str,
        description: str | None,
        pipeline_id: str | None,
        status: str,
        recurrence: ScheduleRecurrence | None,
        datastore_name: str | None,
        polling_interval: int | None,
        data_path_parameter_name: str | None,
        continue_on_step_failure: bool | None,
        path_on_datastore: str | None,
        _schedule_provider: Any = None,
        pipeline_endpoint_id: str | None = None,
    ) -> None:
        self._workspace = workspace
        self._id = id
        self._name = name
        self._description = description
        self._pipeline_id = pipeline_id
        self._status = status
        self._recurrence = recurrence
        self._datastore_name = datastore_name
        self._polling_interval = polling_interval
        self._data_path_parameter_name = data_path_parameter_name
        self._continue_on_step_failure = continue_on_step_failure
        self._path_on_datastore = path_on_datastore
        self._pipeline_endpoint_id = pipeline_endpoint_id
        self._schedule_type = "Recurrence" if recurrence is not None else "DataStore"

    id = property(lambda self: self._id, doc="The schedule's id.")
    name = property(lambda self: self._name, doc="The schedule's name.")
    description = property(lambda self: self._description, doc="The schedule's description.")
    pipeline_id = property(lambda self: self._pipeline_id, doc="The published pipeline it submits, if any.")
    pipeline_endpoint_id = property(lambda self: self._pipeline_endpoint_id, doc="The endpoint it submits, if any.")
    status = property(lambda self: self._status, doc="'Active' or 'Disabled'.")
    recurrence = property(lambda self: self._recurrence, doc="The ScheduleRecurrence of a time schedule.")
    datastore_name = property(lambda self: self._datastore_name, doc="The datastore a datastore schedule watches.")
    polling_interval = property(lambda self: self._polling_interval, doc="Minutes between polls of the datastore.")
    data_path_parameter_name = property(
        lambda self: self._data_path_parameter_name, doc="The DataPath parameter set to the changed blob's path."
    )
    continue_on_step_failure = property(lambda self: self._continue_on_step_failure, doc="The runs' setting.")
    path_on_datastore = property(lambda self: self._path_on_datastore, doc="The folder a datastore schedule watches.")

    def __repr__(self) -> str:
        target = f"Pipeline Id: {self.pipeline_id}" if self.pipeline_id else f"Endpoint Id: {self.pipeline_endpoint_id}"
        detail = (
            f"Recurrence: {self.recurrence!r}"
            if self.recurrence is not None
            else f"Datastore: {self.datastore_name}"
            + (f", Path: {self.path_on_datastore}" if self.path_on_datastore else "")
        )
        return f"Schedule(Name: {self.name}, Id: {self.id}, Status: {self.status}, {target}, {detail})"

    # -- creating ----------------------------------------------------------------------------------
    @staticmethod
    def create(
        workspace: Any,
        name: str,
        pipeline_id: str,
        experiment_name: str,
        recurrence: ScheduleRecurrence | None = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: int = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> Schedule:
        """Create a schedule of the published pipeline ``pipeline_id``: on ``recurrence``, or on blob changes in
        ``datastore`` (under ``path_on_datastore``, polled every ``polling_interval`` minutes)."""
        return Schedule._create(
            workspace,
            {"pipeline_id": pipeline_id},
            name,
            experiment_name,
            recurrence,
            description,
            pipeline_parameters,
            datastore,
            polling_interval,
            data_path_parameter_name,
            continue_on_step_failure,
            path_on_datastore,
        )

    @staticmethod
    def create_for_pipeline_endpoint(
        workspace: Any,
        name: str,
        pipeline_endpoint_id: str,
        experiment_name: str,
        recurrence: ScheduleRecurrence | None = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: int = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> Schedule:
        """Create a schedule that submits the default version of the pipeline endpoint ``pipeline_endpoint_id``."""
        return Schedule._create(
            workspace,
            {"pipeline_endpoint_id": pipeline_endpoint_id},
            name,
            experiment_name,
            recurrence,
            description,
            pipeline_parameters,
            datastore,
            polling_interval,
            data_path_parameter_name,
            continue_on_step_failure,
            path_on_datastore,
        )

    @staticmethod
    def _create(
        workspace: Any,
        target: dict[str, str],
        name: str,
        experiment_name: str,
        recurrence: ScheduleRecurrence | None,
        description: str | None,
        pipeline_parameters: dict[str, Any] | None,
        datastore: Any,
        polling_interval: int,
        data_path_parameter_name: str | None,
        continue_on_step_failure: bool | None,
        path_on_datastore: str | None,
    ) -> Schedule:
        from amlflow.client import client_for
        from amlflow.core.experiment import Experiment

        if recurrence is not None:
            if datastore is not None:
                raise ValueError("Can not specify both a Recurrence and a Datastore")
            if data_path_parameter_name is not None:
                raise ValueError("Data Path parameter name can only be specified for Datastore schedules.")
            if path_on_datastore is not None:
                raise ValueError("Path on datastore parameter can only be specified for Datastore schedules.")
            recurrence.validate()
        elif datastore is None:
            # Azure ML's service refuses a schedule with neither; say so before anything is sent.
            raise ValueError("Specify either a recurrence or a datastore for the schedule.")
        Experiment(workspace, experiment_name)  # Azure ML's check of the name, before anything is sent
        body: dict[str, Any] = {
            **target,
            "name": name,
            "description": description,
            "experiment_name": experiment_name,
            "submission": parameter_assignments(workspace, experiment_name, pipeline_parameters),
            "continue_on_step_failure": continue_on_step_failure,
        }
        if recurrence is not None:
            body["recurrence"] = recurrence._to_wire()
        else:
            body.update(
                datastore_name=_blob_datastore_name(datastore),
                polling_interval=polling_interval,
                data_path_parameter_name=data_path_parameter_name,
                path_on_datastore=path_on_datastore,
            )
        return Schedule._from_entity(workspace, client_for(workspace).create_schedule(body))

    # -- finding -----------------------------------------------------------------------------------
    @staticmethod
    def get(workspace: Any, id: str, _workflow_provider: Any = None, _service_endpoint: Any = None) -> Schedule:
        """The schedule ``id``."""
        from amlflow.client import client_for

        return Schedule._from_entity(workspace, client_for(workspace).schedule(id))

    @staticmethod
    def list(
        workspace: Any,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> list[Schedule]:
        """The schedules of the deployment (only the active ones unless ``active_only=False``); given a
        ``pipeline_id`` or ``pipeline_endpoint_id``, every schedule of that pipeline or endpoint, as Azure ML."""
        if pipeline_id is not None:
            return Schedule.get_schedules_for_pipeline_id(workspace, pipeline_id)
        if pipeline_endpoint_id is not None:
            return Schedule.get_schedules_for_pipeline_endpoint_id(workspace, pipeline_endpoint_id)
        return Schedule._list(workspace, active_only=active_only)

    @staticmethod
    def get_schedules_for_pipeline_id(
        workspace: Any, pipeline_id: str, _workflow_provider: Any = None, _service_endpoint: Any = None
    ) -> list[Schedule]:
        """Every schedule (active or not) of the published pipeline ``pipeline_id``."""
        return Schedule._list(workspace, active_only=False, pipeline_id=pipeline_id)

    @staticmethod
    def get_schedules_for_pipeline_endpoint_id(
        workspace: Any, pipeline_endpoint_id: str, _workflow_provider: Any = None, _service_endpoint: Any = None
    ) -> list[Schedule]:
        """Every schedule (active or not) of the pipeline endpoint ``pipeline_endpoint_id``."""
        return Schedule._list(workspace, active_only=False, pipeline_endpoint_id=pipeline_endpoint_id)

    @staticmethod
    def _list(workspace: Any, **filters: Any) -> list[Schedule]:
        from amlflow.client import client_for

        return [Schedule._from_entity(workspace, entity) for entity in client_for(workspace).schedules(**filters)]

    @staticmethod
    def load_yaml(workspace: Any, filename: str, _workflow_provider: Any = None, _service_endpoint: Any = None) -> Any:
        """Refused: amlflow has no schedule YAML."""
        raise NotImplementedError(
            "Schedule.load_yaml: amlflow reads no schedule YAML files; create the schedule with Schedule.create("
            "..., recurrence=ScheduleRecurrence(...)) or Schedule.create(..., datastore=...)"
        )

    # -- changing ----------------------------------------------------------------------------------
    def update(
        self,
        name: str | None = None,
        description: str | None = None,
        recurrence: ScheduleRecurrence | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        status: str | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: int | None = None,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
    ) -> None:
        """Change what is given; the schedule's DAG follows at once (a new DAG version in Airflow)."""
        from amlflow.client import client_for

        if recurrence is not None:
            if self._schedule_type != "Recurrence":
                raise ValueError("Can not specify a recurrence for a Datastore schedule.")
            recurrence.validate()
        changes: dict[str, Any] = {}
        if datastore is not None:
            if self._schedule_type != "DataStore":
                raise ValueError("Can not specify a Datastore for a Recurrence schedule.")
            changes["datastore_name"] = _blob_datastore_name(datastore)
            if polling_interval is not None and polling_interval < 0:
                raise ValueError("The polling interval must be greater")
        if status is not None and status not in STATUSES:
            raise ValueError("Status must be either Active or Disabled")
        if pipeline_parameters is not None:
            changes["submission"] = parameter_assignments(self._workspace, self._experiment_name, pipeline_parameters)
        given = {
            "name": name,
            "description": description,
            "recurrence": recurrence._to_wire() if recurrence is not None else None,
            "status": status,
            "polling_interval": polling_interval,
            "data_path_parameter_name": data_path_parameter_name,
            "continue_on_step_failure": continue_on_step_failure,
            "path_on_datastore": path_on_datastore,
        }
        changes.update({key: value for key, value in given.items() if value is not None})
        self._refresh(client_for(self._workspace).update_schedule(self.id, changes))

    def enable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        """Let the schedule fire again (unpause its DAG)."""
        self.update(status="Active")

    def disable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        """Stop the schedule firing (pause its DAG)."""
        self.update(status="Disabled")

    # -- its runs ----------------------------------------------------------------------------------
    def get_pipeline_runs(self) -> list[PipelineRun]:
        """The pipeline runs this schedule started, newest first."""
        from amlflow.client import client_for

        return [self._run(entity) for entity in client_for(self._workspace).schedule_runs(self.id)]

    def get_last_pipeline_run(self) -> PipelineRun | None:
        """The last pipeline run this schedule started, or None if it started none."""
        runs = self.get_pipeline_runs()
        return runs[0] if runs else None

    def _run(self, entity: dict[str, Any]) -> PipelineRun:
        from amlflow.core.experiment import Experiment
        from amlflow.pipeline.core.run import PipelineRun

        experiment = Experiment(self._workspace, entity["RunHistoryExperimentName"], _skip_name_validation=True)
        return PipelineRun(experiment, entity["Id"], _details=entity)

    # -- the wire ----------------------------------------------------------------------------------
    @staticmethod
    def _from_entity(workspace: Any, entity: dict[str, Any]) -> Schedule:
        schedule = Schedule(workspace, entity["id"], "", None, None, "Active", None, None, None, None, None, None)
        schedule._refresh(entity)
        return schedule

    def _refresh(self, entity: dict[str, Any]) -> None:
        recurrence = entity.get("recurrence")
        self._name = entity["name"]
        self._description = entity.get("description")
        self._pipeline_id = entity.get("pipeline_id")
        self._pipeline_endpoint_id = entity.get("pipeline_endpoint_id")
        self._status = entity["status"]
        self._recurrence = ScheduleRecurrence._from_wire(recurrence) if recurrence else None
        self._datastore_name = entity.get("datastore_name")
        self._polling_interval = entity.get("polling_interval")
        self._data_path_parameter_name = entity.get("data_path_parameter_name")
        self._continue_on_step_failure = entity.get("continue_on_step_failure")
        self._path_on_datastore = entity.get("path_on_datastore")
        self._experiment_name = entity.get("experiment_name")
        self._schedule_type = "Recurrence" if recurrence else "DataStore"
        self.dag_id = entity.get("dag_id")


def _blob_datastore_name(datastore: Any) -> str:
    if getattr(datastore, "datastore_type", None) != "AzureBlob":
        raise ValueError("Datastore must be of type AzureBlobDatastore")
    return datastore.name
