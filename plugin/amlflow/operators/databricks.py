"""``DatabricksStepOperator``: a DatabricksStep as one Databricks job run, on the Databricks provider.

It is the provider's ``DatabricksSubmitRunOperator`` (its hook, ``runs/submit``, run-page link, trigger and
resumable-job machinery) with what an amlflow step adds around the run:

- before: inputs and outputs become URIs the cluster can read, put into the notebook's widgets or the
  script's ``-<name> <uri>`` arguments; a ``python_script_name`` is uploaded to DBFS;
- while it runs: deferred by default, so the triggerer watches the run and no worker slot is held;
- after: the run's output (``runs/get-output``) goes to the task log, and each output folder the job wrote
  is committed like any step output (a manifest of what is there, then its DataLocation in XCom).

A retry never submits a second run while the first still runs: the run id is kept in the task's
``task_state_store`` (the provider's resumable-job pattern, used here in deferrable mode too), and each
try's ``runs/submit`` carries an ``idempotency_token`` so an HTTP retry after a lost response returns
the same run. A failed, cancelled or timed-out run fails the task with Databricks' state message and
the run page URL; a killed or timed-out task cancels its run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.databricks.hooks.databricks import RunState
from airflow.providers.databricks.operators.databricks import (
    XCOM_RUN_ID_KEY,
    XCOM_RUN_PAGE_URL_KEY,
    DatabricksSubmitRunOperator,
)
from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger
from airflow.providers.databricks.utils.databricks import validate_trigger_event
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferralTimeout

from amlflow import config
from amlflow.exceptions import StepFailedError
from amlflow.extra_links import STEP_LINKS
from amlflow.hooks.databricks import DatabricksStepHook, uploaded_files
from amlflow.runtime.fingerprint import digest, step_fingerprint
from amlflow.runtime.inputs import locate_input, resolve_input
from amlflow.runtime.lifecycle import StepLifecycle
from amlflow.runtime.tries import step_retry_arguments
from amlflow.runtime.written_outputs import clear_output, commit_written_outputs, output_place
from amlflow.storage import dbfs
from amlflow.storage.location import run_path


class RunFailedError(StepFailedError, AirflowFailException):
    """The Databricks run failed: final, not retried (unless the DAG asked for retries)."""


#: Airflow's ``next_method`` for a deferred task whose trigger timed out (the task's timeout passed).
TRIGGER_FAIL = "__fail__"
#: How many characters of a notebook's result or a script's log the task log shows.
OUTPUT_LOG_CHARS = 20_000


class DatabricksStepOperator(DatabricksSubmitRunOperator):
    """Run one DatabricksStep on the workspace of connection ``databricks_conn_id`` (the compute target).

    :param entry: what runs: ``{"kind": "notebook" | "python" | "python_upload" | "jar", ...}`` with its
        parameters; data in them is ``{"input": port}`` / ``{"output": port}``, parameter values Jinja.
    :param cluster: ``{"existing_cluster_id": ...}`` or ``{"new_cluster": {...}}`` (Jobs API fields).
    :param step_libraries: Jobs API ``libraries`` entries.
    :param inputs: input specs (see ``amlflow.factory.step_specs``).
    :param outputs: output specs; the job writes each under its URI, committed after the run succeeds.
    :param permit_cluster_restart: with an existing cluster, False refuses to run on a cluster that is not
        running (Databricks would start it); True or None lets Databricks start it.
    :param polling_period_seconds: seconds between looks at the run; default ``[amlflow]
        databricks_polling_seconds``.
    :param compute_target: the compute target's name and type.
    :param allow_reuse: whether an earlier identical run's outputs may stand in for this one.
    """

    template_fields: Sequence[str] = (*DatabricksSubmitRunOperator.template_fields, "entry")
    template_fields_renderers = {"entry": "json", "cluster": "json"}
    operator_extra_links = (*DatabricksSubmitRunOperator.operator_extra_links, *STEP_LINKS)
    ui_color = "#ffd8c2"
    ui_fgcolor = "#000"

    def __init__(
        self,
        *,
        entry: dict[str, Any],
        cluster: dict[str, Any],
        step_libraries: list[dict[str, Any]] | None = None,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
        permit_cluster_restart: bool | None = None,
        compute_target: dict[str, Any] | None = None,
        allow_reuse: bool = True,
        deferrable: bool = True,
        polling_period_seconds: int | None = None,
        **kwargs: Any,
    ) -> None:
        # The Airflow 3.3.2 deferral race (apache/airflow#71580) can fail a task whose trigger fires soon
        # after it deferred; one retry survives it, and the retry reconnects to the same run. When the
        # retry is only ours (the DAG asked for none), a run that really failed is not run again.
        self._race_retry_only = step_retry_arguments(kwargs)
        if self._race_retry_only:
            kwargs["retries"] = max(1, kwargs["retries"])
        super().__init__(deferrable=deferrable, **kwargs)
        # None: ``[amlflow] databricks_polling_seconds``, read when the task runs.
        self._polling = polling_period_seconds
        self.entry = entry
        self.cluster = cluster
        self.step_libraries = list(step_libraries or [])
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.permit_cluster_restart = permit_cluster_restart
        self.compute_target = compute_target
        self.allow_reuse = allow_reuse

    @cached_property
    def _hook(self) -> DatabricksStepHook:
        return DatabricksStepHook(
            self.databricks_conn_id,
            retry_limit=self.databricks_retry_limit,
            retry_delay=self.databricks_retry_delay,
            retry_args=self.databricks_retry_args,
            caller=type(self).__name__,
        )

    # -- the task ------------------------------------------------------------------------------------
    def execute(self, context: Any) -> None:
        """Submit the step's Databricks run (its data as URIs, through this workspace's DBFS) and wait for it,
        resumably.
        """
        # DBFS datastores are the DBFS of this step's Databricks workspace, and only here (Azure ML's rule).
        with dbfs.through(self._hook):
            ti = context["ti"]
            self.polling_period_seconds = self._polling or config.get_int("databricks_polling_seconds")
            self._uris = {**self._input_uris(ti), **self._output_uris(ti)}
            self.tasks = [self._task_body(ti)]
            self.idempotency_token = _idempotency_token(ti)
            lifecycle = StepLifecycle(context, self.outputs, self._step_fingerprint(ti), self.allow_reuse, self.log)
            if lifecycle.reused("no Databricks run is submitted"):
                return None
            lifecycle.hold()
            if self._race_retry_only and ti.try_number > 1:
                self._stop_if_stored_run_failed(context)
            return self.execute_resumable(context)

    def submit_job(self, context: Any) -> int:
        """A fresh run: clear what an earlier try left at the outputs, upload the script, submit."""
        ti = context["ti"]
        self._check_cluster()
        for spec in self.outputs:
            clear_output(*output_place(ti, spec))
        if self.entry["kind"] == "python_upload":
            self._upload_source(ti)
        run_id = super().submit_job(context)
        return run_id

    def _prepare_submit_json(self, context: Any) -> dict[str, Any]:
        # The provider copies every DAG Param into a notebook task's empty ``base_parameters``; Azure ML
        # gives a notebook its notebook_params and its data, nothing else (amlflow's run options least).
        params, self.params = self.params, ParamsDict()
        try:
            return super()._prepare_submit_json(context)
        finally:
            self.params = params

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        """Wait for the run: deferred to the triggerer (the default), or polling in this worker."""
        self.run_id = int(external_id)
        run_page_url = self._hook.get_run_page_url(self.run_id)
        if self.do_xcom_push:
            context["ti"].xcom_push(key=XCOM_RUN_ID_KEY, value=self.run_id)
            context["ti"].xcom_push(key=XCOM_RUN_PAGE_URL_KEY, value=run_page_url)
        self.log.info("Databricks run %s: %s", self.run_id, run_page_url)
        # Checked once here before deferring (the provider's pattern): a run that already ended is
        # finished in this worker instead of waking the triggerer.
        state = self._hook.get_run_state(self.run_id)
        if not state.is_terminal and self.deferrable:
            self.defer(
                trigger=DatabricksExecutionTrigger(
                    run_id=self.run_id,
                    databricks_conn_id=self.databricks_conn_id,
                    polling_period_seconds=self.polling_period_seconds,
                    retry_limit=self.databricks_retry_limit,
                    retry_delay=self.databricks_retry_delay,
                    retry_args=self.databricks_retry_args,
                    run_page_url=run_page_url,
                ),
                method_name="execute_complete",
                timeout=self._time_left(context),
            )
        while not state.is_terminal:
            self.log.info("Databricks run %s is %s", self.run_id, state.life_cycle_state)
            time.sleep(self.polling_period_seconds)
            state = self._hook.get_run_state(self.run_id)
        self._raise_unless_successful(state, run_page_url)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        """The triggerer saw the run end: fail with Databricks' message, or log its output and commit."""
        validate_trigger_event(event)
        self.run_id = int(event["run_id"])
        self._raise_unless_successful(RunState.from_json(event["run_state"]), event["run_page_url"])
        with dbfs.through(self._hook):
            self.get_job_result(self.run_id, context)

    def get_job_result(self, external_id: Any, context: Any) -> None:
        """The run succeeded: show its output, then commit every output folder it wrote."""
        self.run_id = int(external_id)
        self._log_run_output(self.run_id)
        lifecycle = StepLifecycle.resumed(context, self.outputs, self.allow_reuse, self.log)
        lifecycle.finish(commit_written_outputs(context["ti"], self.outputs))

    # -- what the run computes -----------------------------------------------------------------------
    def _step_fingerprint(self, ti: Any) -> str:
        """The run's code (``_code_version``), its entry and parameters as rendered, its cluster, libraries
        and data."""
        entry = {key: value for key, value in self.entry.items() if key != "source_directory"}
        return step_fingerprint(
            kind="DatabricksStep",
            name=self.task_id,
            code=self._code_version(),
            script_name=entry.get("notebook_path") or entry.get("script_name") or entry.get("python_file") or "",
            arguments=[],
            params={"entry": entry},
            compute={"target": self.compute_target, "cluster": self.cluster, "libraries": self.step_libraries},
            inputs=[(spec, locate_input(spec, ti)) for spec in self.inputs],
            outputs=self.outputs,
        )

    def _code_version(self) -> str:
        """What changes when the code the run executes changes: the content of an uploaded
        ``source_directory``, a workspace notebook's source, the size and modification time of a DBFS script
        and of each DBFS library."""
        entry = self.entry
        versions: list[Any] = []
        if entry["kind"] == "python_upload":
            versions.append([[rel, _file_digest(path)] for rel, path in uploaded_files(entry["source_directory"])])
        elif entry["kind"] == "notebook":
            versions.append(self._look_up("notebook", entry["notebook_path"], self._hook.notebook_digest))
        elif entry["kind"] == "python":
            versions.append(self._look_up("python_script_path", entry["python_file"], self._hook.dbfs_file_version))
        for library in self.step_libraries:
            for value in library.values():
                if isinstance(value, str) and value.startswith("dbfs:/"):
                    versions.append(self._look_up("library", value, self._hook.dbfs_file_version))
        return digest(versions)

    def _look_up(self, what: str, path: str, look: Callable[[str], Any]) -> Any:
        try:
            return look(path)
        except AirflowException as error:
            if "RESOURCE_DOES_NOT_EXIST" not in str(error):
                raise
            raise StepFailedError(
                f"step {self.task_id!r}: {what} {path} is not in Databricks workspace of connection "
                f"{self.databricks_conn_id!r}"
            ) from None

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Come back from the trigger; a deferral that failed or timed out cancels the Databricks run first."""
        # A deferred task whose timeout passed (or whose trigger failed) comes back here to fail; the
        # triggerer does not call the trigger's on_kill then, so the run is cancelled from the worker.
        if next_method != TRIGGER_FAIL:
            return super().resume_execution(next_method, next_kwargs, context)
        self._cancel_stored_run(context)
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout as timeout:
            if not self._race_retry_only:
                raise
            raise RunFailedError(
                f"step {self.task_id!r}: timed out after {self.execution_timeout} while Databricks run "
                f"{self._stored_run(context)} ran; the run was cancelled"
            ) from timeout

    def on_kill(self) -> None:
        """Cancel the Databricks run this worker started, if any."""
        # Killed or timed out while in this worker; while deferred, the trigger's on_kill cancels the run.
        if self.run_id:
            self._hook.cancel_run(self.run_id)
            self.log.info("Cancelled Databricks run %s", self.run_id)

    # -- the run's body ------------------------------------------------------------------------------
    def _task_body(self, ti: Any) -> dict[str, Any]:
        """The one task of the ``runs/submit`` body (Jobs API 2.1+ ``tasks`` form)."""
        entry = self.entry
        kind = entry["kind"]
        data_args = [
            arg for spec in self.inputs + self.outputs for arg in (f"-{spec['name']}", self._uris[spec["name"]])
        ]
        if kind == "notebook":
            widgets = {spec["name"]: self._uris[spec["name"]] for spec in self.inputs + self.outputs}
            widgets.update({key: self._resolve(value) for key, value in entry["base_parameters"].items()})
            body: dict[str, Any] = {
                "notebook_task": {"notebook_path": entry["notebook_path"], "base_parameters": widgets}
            }
        elif kind in ("python", "python_upload"):
            parameters = [self._resolve(p) for p in entry["parameters"]] + data_args
            python_file = entry.get("python_file")
            if kind == "python_upload":
                folder = self._source_dbfs_folder(ti)
                python_file = f"{folder}/{entry['script_name']}"
                parameters += ["--AZUREML_SCRIPT_DIRECTORY_NAME", folder]
            body = {"spark_python_task": {"python_file": python_file, "parameters": parameters}}
        else:
            parameters = [self._resolve(p) for p in entry["parameters"]] + data_args
            body = {"spark_jar_task": {"main_class_name": entry["main_class_name"], "parameters": parameters}}
        body["task_key"] = "amlflow_step"
        body.update(self.cluster)
        if self.step_libraries:
            body["libraries"] = self.step_libraries
        return body

    def _resolve(self, value: Any) -> str:
        if isinstance(value, dict):
            return self._uris[value.get("input") or value["output"]]
        return str(value)

    def _input_uris(self, ti: Any) -> dict[str, str]:
        uris = {}
        for spec in self.inputs:
            backend, path = resolve_input(spec, locate_input(spec, ti))
            uris[spec["name"]] = self._cluster_uri(backend, path, f"input {spec['name']!r}")
        return uris

    def _output_uris(self, ti: Any) -> dict[str, str]:
        uris = {}
        for spec in self.outputs:
            backend, path = output_place(ti, spec)
            uris[spec["name"]] = self._cluster_uri(backend, path, f"output {spec['name']!r}")
        return uris

    def _cluster_uri(self, backend: Any, path: str, what: str) -> str:
        uri = backend.uri(path)
        if backend.kind == "local":
            self.log.warning(
                "%s is on datastore %r, a folder on this machine (%s): a Databricks cluster cannot read it. "
                "Use a blob datastore (a 'wasb' connection) for data a Databricks step reads or writes.",
                what,
                backend.name,
                uri,
            )
        return uri

    def _source_dbfs_folder(self, ti: Any) -> str:
        return f"dbfs:/{run_path(ti.dag_id, ti.run_id)}/{ti.task_id}/source"

    def _upload_source(self, ti: Any) -> None:
        folder = self._source_dbfs_folder(ti)
        uploaded = self._hook.upload_folder_to_dbfs(self.entry["source_directory"], folder)
        self.log.info("Uploaded %d files of %s to %s", len(uploaded), self.entry["source_directory"], folder)

    def _check_cluster(self) -> None:
        cluster_id = self.cluster.get("existing_cluster_id")
        if cluster_id is None or self.permit_cluster_restart is not False:
            return
        state = self._hook.get_cluster_state(cluster_id)
        if not state.is_running:
            raise StepFailedError(
                f"step {self.task_id!r}: cluster {cluster_id} is {state.state} and permit_cluster_restart is "
                "False, so the run was not submitted (Databricks would start the cluster)"
            )

    # -- the run's end -------------------------------------------------------------------------------
    def _raise_unless_successful(self, state: RunState, run_page_url: str) -> None:
        if state.is_successful:
            self.log.info("Databricks run %s succeeded: %s", self.run_id, run_page_url)
            return
        error = self._log_run_output(self.run_id)
        result = state.result_state or state.life_cycle_state
        detail = f"; {error}" if error else ""
        message = (
            f"step {self.task_id!r}: Databricks run {self.run_id} ended {result}: "
            f"{state.state_message or 'no message'}{detail}. Run page: {run_page_url}"
        )
        # The run itself failed: our race-only retry would only wait and fail again.
        raise RunFailedError(message) if self._race_retry_only else StepFailedError(message)

    def _log_run_output(self, run_id: int) -> str | None:
        """Log what ``runs/get-output`` has for the run's task; return its error line, if any."""
        run = self._hook.get_run(run_id)
        tasks = run.get("tasks") or [{"run_id": run_id}]
        # get-output answers for one task run, not for the multi-task run that wraps it.
        output = self._hook.get_run_output(tasks[0]["run_id"])
        result = (output.get("notebook_output") or {}).get("result")
        if result:
            self.log.info("Notebook result:\n%s", result[:OUTPUT_LOG_CHARS])
        if output.get("logs"):
            self.log.info("Run output:\n%s", output["logs"][-OUTPUT_LOG_CHARS:])
        if output.get("error_trace"):
            self.log.error("Run error trace:\n%s", output["error_trace"][-OUTPUT_LOG_CHARS:])
        return output.get("error")

    # -- retries, timeouts, kills --------------------------------------------------------------------
    def _stored_run(self, context: Any) -> int | None:
        store = context.get("task_state_store")
        return store.get(self.external_id_key) if store is not None else None

    def _stop_if_stored_run_failed(self, context: Any) -> None:
        """On our race-only retry, a run that really ended badly fails the task instead of running again."""
        run_id = self._stored_run(context)
        if not run_id:
            return
        status = self.get_job_status(run_id, context)
        if not self.is_job_active(status) and not self.is_job_succeeded(status):
            self.run_id = int(run_id)
            self._raise_unless_successful(self._hook.get_run_state(self.run_id), self._hook.get_run_page_url(run_id))

    def _cancel_stored_run(self, context: Any) -> None:
        run_id = self._stored_run(context)
        if not run_id:
            return
        try:
            self._hook.cancel_run(int(run_id))
        except Exception:  # the task fails either way; say the run may go on rather than hide why it failed
            self.log.exception("Could not cancel Databricks run %s; it may still be running", run_id)
            return
        self.log.info("Task ended while deferred: cancelled Databricks run %s", run_id)

    def _time_left(self, context: Any) -> timedelta | None:
        """What is left of ``execution_timeout``: while deferred, Airflow enforces it only as the defer timeout."""
        if self.execution_timeout is None:
            return None
        started = getattr(context["ti"], "start_date", None)
        if started is None:
            return self.execution_timeout
        from airflow.utils import timezone

        return max(self.execution_timeout - (timezone.utcnow() - started), timedelta(seconds=1))


def _idempotency_token(ti: Any) -> str:
    """One token per try (at most 64 characters): an HTTP retry of ``runs/submit`` returns the same run."""
    key = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}/{ti.try_number}"
    return hashlib.sha256(key.encode()).hexdigest()


def _file_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
