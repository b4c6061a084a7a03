"""``PipelineRun``, ``StepRun`` and ``PortDataReference``: watching a run and reading its outputs, as in Azure ML.

A pipeline run is an Airflow DAG run, a step run one of its task instances. Statuses are Azure ML's
(``NotStarted``, ``Queued``, ``Running``, ``Finished``, ``Failed``, ``Canceled``), as the amlflow endpoint
reports them. A step's output is the DataLocation its task pushed to XCom; ``download`` reads it through
the datastore's backend, so this machine needs what a worker needs to reach that datastore (the local
folder, or the datastore's Airflow connection, e.g. as ``AIRFLOW_CONN_<NAME>``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from amlflow.exceptions import ActivityFailedException, UserErrorException

if TYPE_CHECKING:
    from amlflow.client import AirflowClient
    from amlflow.core.experiment import Experiment
    from amlflow.core.workspace import Workspace
    from amlflow.storage.location import DataLocation

#: Statuses of a run or step that has not ended (Azure ML's ``RUNNING_STATES``, plus ``Queued``).
RUNNING_STATES = ("NotStarted", "Queued", "Running", "Unknown")
POLL_SECONDS = 1.0


class PipelineRun:
    """A run of a published pipeline."""

    def __init__(self, experiment: Experiment, run_id: str, _details: dict[str, Any] | None = None, **kwargs: Any):
        self.experiment = experiment
        self.id = run_id
        self._details = _details

    def __repr__(self) -> str:
        return f"PipelineRun(Experiment: {self.experiment.name}, Id: {self.id}, Status: {self.get_status()})"

    @staticmethod
    def get(workspace: Workspace, run_id: str) -> PipelineRun:
        """The run ``run_id`` (its experiment is the one it was submitted to)."""
        from amlflow.client import client_for
        from amlflow.core.experiment import Experiment

        details = client_for(workspace).pipeline_run(run_id)
        name = details.get("RunHistoryExperimentName") or details["PipelineId"]
        return PipelineRun(Experiment(workspace, name, _skip_name_validation=True), run_id, _details=details)

    @property
    def _client(self) -> AirflowClient:
        from amlflow.client import client_for

        return client_for(self.experiment.workspace)

    @property
    def pipeline_id(self) -> str:
        """The id of the published pipeline this run was submitted from."""
        return (self._details or self.get_details())["PipelineId"]

    def get_details(self) -> dict[str, Any]:
        """The run as Azure ML's PipelineRunEntity (status, parameters, experiment, times)."""
        self._details = self._client.pipeline_run(self.id)
        return self._details

    def get_status(self) -> str:
        """The run's status code now (``Running``, ``Finished``, ``Failed``...)."""
        return self.get_details()["Status"]["StatusCode"]

    def get_portal_url(self) -> str:
        """The run's page in the Airflow UI."""
        return self._client.ui_run_url(self.pipeline_id, self.id)

    def publish_pipeline(
        self,
        name: str,
        description: str | None,
        version: str | None,
        continue_on_step_failure: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Publish the graph and code this run ran (a pipeline sent from a notebook) as ``name``."""
        from amlflow import deployment

        unknown = set(kwargs) - {"enable_email_notification"}
        if unknown:
            raise ValueError(
                f"parameter {sorted(unknown)[0]} is not recognized for method PipelineRun.publish_pipeline "
            )
        return deployment.publish_run(self, name, description, version, continue_on_step_failure)

    def get_children(
        self,
        recursive: bool = False,
        tags: Any = None,
        properties: Any = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> list[StepRun]:
        """The step runs that have started, newest start first (as Azure ML lists a run's children).

        ``status`` keeps those in that status; steps have no children of their own (``recursive`` is moot).
        """
        if tags or properties or type:
            raise UserErrorException(
                "PipelineRun.get_children: amlflow's step runs carry no tags, properties or run type to filter "
                "on; filter the list yourself (by name, status)"
            )
        started = [step for step in self._all_steps() if step._status() != "NotStarted"]
        started.sort(key=lambda step: step._entity["Status"].get("StartTime") or "", reverse=True)
        return [step for step in started if status is None or step._status() == status]

    def get_steps(self) -> list[StepRun]:
        """The steps that have started, newest start first (``get_children()``)."""
        return self.get_children()

    def _all_steps(self) -> list[StepRun]:
        return [StepRun._from_entity(self, entity) for entity in self._client.step_runs(self.id)]

    def find_step_run(self, name: str) -> list[StepRun]:
        """The step runs named ``name`` (a step's name defaults to its script's, e.g. ``train.py``)."""
        return [step for step in self._all_steps() if step.name == name]

    def cancel(self) -> None:
        """Stop the run: running steps are stopped, the others don't start; its status becomes Canceled."""
        self._details = self._client.cancel(self.id)

    def wait_for_completion(
        self, show_output: bool = True, timeout_seconds: float = sys.maxsize, raise_on_error: bool = True
    ) -> str:
        """Wait until the run ends; return its final status.

        With ``show_output`` each change of the run's or a step's status is printed when it happens.
        After ``timeout_seconds`` it stops waiting and returns the status then. With ``raise_on_error`` a
        failed run raises ActivityFailedException naming the failed steps.
        """
        deadline = time.monotonic() + timeout_seconds
        if show_output:
            print(f"PipelineRunId: {self.id}")
            print(f"Link to Airflow UI: {self.get_portal_url()}")
        seen: dict[str, str] = {}

        def show(name: str, label: str, code: str, note: str = "") -> None:
            if seen.get(name) != code:
                print(f"{label} Status: {code}{note}")
                seen[name] = code

        while True:
            status = self.get_status()
            ended = status not in RUNNING_STATES
            if show_output:
                # In the order things happen: the run starts, its steps change, the run ends.
                if not ended:
                    show("", "PipelineRun", status)
                for step in self._all_steps():
                    code = step._entity["Status"]["StatusCode"]
                    if code != "NotStarted":
                        reused = " (reused)" if step.is_reused and code == "Finished" else ""
                        show(step.name, f"StepRun( {step.name} )", code, reused)
                if ended:
                    show("", "PipelineRun", status)
            if ended:
                break
            if time.monotonic() >= deadline:
                if show_output:
                    print(f"Timed out of waiting. PipelineRun Status: {status}")
                return status
            time.sleep(POLL_SECONDS)
        if show_output:
            print()
            print("PipelineRun Execution Summary")
            print("==============================")
            print(f"PipelineRun Status: {status}")
            print(json.dumps(self._summary(), indent=1, default=str))
        if status == "Failed" and raise_on_error:
            failed = [s.name for s in self._all_steps() if s._entity["Status"]["StatusCode"] == "Failed"]
            raise ActivityFailedException(
                f"PipelineRun {self.id} of pipeline {self.pipeline_id!r} failed; failed steps: "
                f"{', '.join(failed) or 'none (the run was stopped)'}; logs: {self.get_portal_url()}"
            )
        return status

    def _summary(self) -> dict[str, Any]:
        details = self._details or self.get_details()
        return {
            "runId": self.id,
            "pipelineId": details["PipelineId"],
            "experimentName": details["RunHistoryExperimentName"],
            "status": details["Status"]["StatusCode"],
            "startTimeUtc": details["Status"]["CreationTime"],
            "endTimeUtc": details["Status"]["EndTime"],
            "parameterAssignments": details["ParameterAssignments"],
        }


class StepRun:
    """One step of a pipeline run (an Airflow task instance)."""

    def __init__(
        self,
        experiment: Experiment,
        step_run_id: str,
        pipeline_run_id: str,
        node_id: str,
        _pipeline_run: PipelineRun | None = None,
        _entity: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.experiment = experiment
        self.id = step_run_id
        self.pipeline_run_id = pipeline_run_id
        self.name = node_id
        self._pipeline_run = _pipeline_run or PipelineRun(experiment, pipeline_run_id)
        self._entity = _entity or {}

    @classmethod
    def _from_entity(cls, run: PipelineRun, entity: dict[str, Any]) -> StepRun:
        return cls(run.experiment, entity["Id"], run.id, entity["Name"], _pipeline_run=run, _entity=entity)

    def __repr__(self) -> str:
        return f"StepRun(Name: {self.name}, Run: {self.pipeline_run_id}, Status: {self._status()})"

    def _status(self) -> str | None:
        return (self._entity.get("Status") or {}).get("StatusCode")

    @property
    def _client(self) -> AirflowClient:
        return self._pipeline_run._client

    @property
    def is_reused(self) -> bool:
        """Whether this step did not run but handed on an earlier run's outputs (see ``reused_from``)."""
        return bool(self._entity.get("IsReused"))

    @property
    def reused_from(self) -> dict[str, Any] | None:
        """The step run whose outputs this one reused: ``reused_dag_id``, ``reused_run_id``, ``reused_task_id``."""
        return self._entity.get("Reused") if self.is_reused else None

    def get_details(self) -> dict[str, Any]:
        """The step run's entity, read again from the deployment (the last one read if the step is not listed)."""
        found = [e for e in self._client.step_runs(self.pipeline_run_id) if e["Name"] == self.name]
        if found:
            self._entity = found[0]
        return self._entity

    def get_status(self) -> str:
        """The step run's status code now."""
        return self.get_details()["Status"]["StatusCode"]

    def get_outputs(self) -> dict[str, PortDataReference]:
        """Every output the step committed, by name."""
        keys = self._client.xcom_keys(self._pipeline_run.pipeline_id, self.pipeline_run_id, self.name)
        found = {}
        for key in keys:
            location = self._location(key)
            if location is not None:
                found[key] = PortDataReference(location, key, self.pipeline_run_id, self)
        return found

    def get_output_data(self, data_name: str) -> PortDataReference:
        """The output ``data_name`` of this step, to ``download``."""
        location = self._location(data_name)
        if location is None:
            known = ", ".join(sorted(self.get_outputs())) or "none"
            raise UserErrorException(
                f"step {self.name!r} of run {self.pipeline_run_id} has no output {data_name!r} (its outputs: {known})"
            )
        return PortDataReference(location, data_name, self.pipeline_run_id, self)

    def _location(self, key: str) -> DataLocation | None:
        from amlflow.storage.location import DataLocation

        value = self._client.xcom(self._pipeline_run.pipeline_id, self.pipeline_run_id, self.name, key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        return DataLocation.from_xcom(value) if DataLocation.is_xcom(value) else None

    def _artifact_owner(self) -> tuple[str, str, str]:
        """The step run whose artifacts stand for this one: the reused one, or this one."""
        reused = self.reused_from
        if reused:
            return reused["reused_dag_id"], reused["reused_run_id"], reused["reused_task_id"]
        return self._pipeline_run.pipeline_id, self.pipeline_run_id, self.name

    def get_metrics(self) -> dict[str, Any]:
        """The metrics the step's script logged with ``Run.get_context().log(...)`` (a reused step: those of the
        run it reused), as the deployment serves them: the notebook needs no access to its datastore."""
        view = self._client.run_view(self._pipeline_run.pipeline_id, self.pipeline_run_id)
        return next((step["metrics"] for step in view["steps"] if step["name"] == self.name), {})

    def get_stdout_log(self) -> str:
        """The text the step's script wrote to stdout."""
        from amlflow.runtime.artifacts import read_log

        return read_log(*self._artifact_owner(), "stdout")

    def get_stderr_log(self) -> str:
        """The text the step's script wrote to stderr."""
        from amlflow.runtime.artifacts import read_log

        return read_log(*self._artifact_owner(), "stderr")

    def get_job_log(self) -> str:
        """The step's task log in Airflow (its latest try), as text."""
        return self._client.task_log(self._pipeline_run.pipeline_id, self.pipeline_run_id, self.name)

    def get_details_with_logs(self) -> dict[str, Any]:
        """``get_details()`` with ``logFiles``: the script's stdout and stderr, by file name."""
        details = dict(self.get_details())
        details["logFiles"] = {"stdout.txt": self.get_stdout_log(), "stderr.txt": self.get_stderr_log()}
        return details

    def get_file_names(self) -> list[str]:
        """The files stored with the step run (its logs and metrics), as names ``download_file`` takes."""
        from amlflow.runtime.artifacts import artifact_names

        return artifact_names(*self._artifact_owner())

    def download_file(self, name: str, output_file_path: str | None = None, _validate_checksum: bool = False) -> None:
        """Download the stored file ``name`` (see ``get_file_names``) to ``output_file_path`` (default: its name)."""
        from amlflow.runtime.artifacts import download_artifact

        download_artifact(*self._artifact_owner(), name, output_file_path or os.path.basename(name))


class PortDataReference:
    """A committed step output on its datastore: what ``StepRun.get_output_data`` returns."""

    def __init__(self, location: DataLocation, name: str, pipeline_run_id: str, step_run: StepRun | None = None):
        self._location = location
        self.name = self.data_reference_name = name
        self.pipeline_run_id = pipeline_run_id
        self.step_run = step_run

    def __repr__(self) -> str:
        return f"PortDataReference(name={self.name!r}, uri={self._location.uri!r})"

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.name}"

    @property
    def datastore_name(self) -> str:
        """The name of the datastore holding the output."""
        return self._location.datastore

    @property
    def path_on_datastore(self) -> str:
        """The output's path on its datastore."""
        return self._location.path

    @property
    def uri(self) -> str:
        """The output's URI."""
        return self._location.uri

    def get_port_data_reference(self) -> PortDataReference:
        """Itself: Azure ML's ``StepRunOutput`` (what ``get_outputs()`` maps names to) and this are one class here."""
        return self

    def download(self, local_path: str, overwrite: bool = False, show_progress: bool = True) -> int:
        """Download the output to ``local_path/<path_on_datastore>/`` (Azure ML's layout); returns how many files.

        Only a committed output is read (its manifest must match the run's), and every file is checked
        against the manifest's size and hash after it arrives.
        """
        from amlflow.storage import get_backend
        from amlflow.storage.manifest import sha256_file

        backend = get_backend(self.datastore_name)
        manifest = backend.read_manifest(self.path_on_datastore)
        if manifest is None or manifest.fingerprint != self._location.fingerprint:
            raise UserErrorException(
                f"output {self.name!r} at {self.uri} is not committed as this run recorded it (no matching "
                "manifest); it is not downloaded"
            )
        target = os.path.join(local_path, *self.path_on_datastore.split("/"))
        count = 0
        for entry in manifest.files:
            local = os.path.join(target, *entry["path"].split("/"))
            if os.path.exists(local) and not overwrite:
                continue
            os.makedirs(os.path.dirname(local), exist_ok=True)
            backend.download_file(f"{self.path_on_datastore}/{entry['path']}", local)
            if os.path.getsize(local) != entry["size"] or ("sha256" in entry and sha256_file(local) != entry["sha256"]):
                raise UserErrorException(f"output {self.name!r}: {entry['path']} does not match its manifest")
            if show_progress:
                print(f"Downloaded {self.uri}/{entry['path']} to {local}")
            count += 1
        return count
