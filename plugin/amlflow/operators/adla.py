"""``AdlaStepOperator``: an AdlaStep as one deferrable task (submit on a worker, wait in the triggerer)."""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from amlflow import config
from amlflow.exceptions import StepFailedError
from amlflow.extra_links import STEP_LINKS
from amlflow.hooks.adla import ENDED, AdlaHook, describe_errors, job_summary
from amlflow.runtime.fingerprint import step_fingerprint
from amlflow.runtime.inputs import locate_input, resolve_input
from amlflow.runtime.lifecycle import StepLifecycle
from amlflow.runtime.written_outputs import clear_output, commit_written_outputs, output_place

#: Azure ML's script templating: ``@@name@@`` for an input, an output or a parameter.
PLACEHOLDER = re.compile(r"@@([^@\s]+)@@")
JOB_ID_KEY = "adla_job_id"


def substitute(script: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """``script`` with every ``@@name@@`` of a known name replaced; also the names left as they were."""
    unknown: list[str] = []

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        unknown.append(name)
        return match.group(0)

    return PLACEHOLDER.sub(replace, script), unknown


class AdlaStepOperator(BaseOperator):
    """Run a U-SQL script as an Azure Data Lake Analytics job and wait for it without holding a worker.

    The worker submits the job (``@@name@@`` substituted), reads its state once, and defers to
    ``AdlaJobTrigger``, which polls in the triggerer every ``[amlflow] adla_poll_interval`` seconds. The
    job is cancelled when the task is killed (worker or triggerer side) or when ``execution_timeout``
    passes. On success the outputs the job wrote are committed; on failure the task fails with the job's
    U-SQL errors, which are also in the task log.

    :param script_name: the U-SQL script, relative to ``source_directory``; read when the task runs.
    :param adla_conn_id: the connection of the ADLA account (the AdlaCompute's name).
    :param account_name: the account, when the compute names one (else the connection's).
    :param step_params: ``params`` of the step, by name (Jinja-rendered values).
    :param inputs: input specs; their URIs replace ``@@<input name>@@``.
    :param outputs: output specs; their run-scoped URIs replace ``@@<output name>@@``.
    """

    template_fields: Sequence[str] = ("step_params",)
    template_fields_renderers = {"step_params": "json"}
    operator_extra_links = STEP_LINKS
    ui_color = "#d9f0e3"

    def __init__(
        self,
        *,
        script_name: str,
        source_directory: str,
        adla_conn_id: str,
        account_name: str | None = None,
        step_params: dict[str, str] | None = None,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
        degree_of_parallelism: int = 1,
        priority: int = 1000,
        runtime_version: str | None = None,
        compute_target: dict[str, Any] | None = None,
        allow_reuse: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.script_name = script_name
        self.source_directory = source_directory
        self.adla_conn_id = adla_conn_id
        self.account_name = account_name
        self.step_params = dict(step_params or {})
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.degree_of_parallelism = degree_of_parallelism
        self.priority = priority
        self.runtime_version = runtime_version
        self.compute_target = compute_target
        self.allow_reuse = allow_reuse
        self._job_id: str | None = None

    def _hook(self) -> AdlaHook:
        return AdlaHook(self.adla_conn_id, self.account_name)

    def execute(self, context: Any) -> None:
        """Submit the U-SQL script, its ``@@name@@`` placeholders filled in, as an ADLA job; defer until it ends
        (unless an identical earlier job's outputs stand in)."""
        ti = context["ti"]
        located = [(spec, locate_input(spec, ti)) for spec in self.inputs]
        with open(os.path.join(self.source_directory, self.script_name), encoding="utf-8") as handle:
            template = handle.read()
        fingerprint = self._fingerprint(template, located)
        lifecycle = StepLifecycle(context, self.outputs, fingerprint, self.allow_reuse, self.log)
        if lifecycle.reused("no ADLA job is submitted"):
            return
        lifecycle.hold()
        values: dict[str, str] = {}
        for spec, where in located:
            backend, path = resolve_input(spec, where)
            values[spec["name"]] = backend.uri(path)
        for spec in self.outputs:
            backend, path = output_place(ti, spec)
            clear_output(backend, path)
            values[spec["name"]] = backend.uri(path)
        values.update({key: str(value) for key, value in self.step_params.items()})
        script, unknown = substitute(template, values)
        if unknown:
            self.log.warning(
                "%s: no input, output or param named %s; left as written",
                self.script_name,
                ", ".join(f"@@{n}@@" for n in sorted(set(unknown))),
            )
        for name, value in sorted(values.items()):
            self.log.info("@@%s@@ = %s", name, value)

        hook = self._hook()
        self._job_id = str(uuid.uuid4())
        name = f"{ti.dag_id}.{ti.task_id} {ti.run_id}"
        self.log.info("Submitting U-SQL job %r (%s) to ADLA account %s", name, self._job_id, hook.account_name)
        hook.submit_job(
            self._job_id,
            name,
            script,
            degree_of_parallelism=self.degree_of_parallelism,
            priority=self.priority,
            runtime_version=self.runtime_version,
        )
        ti.xcom_push(key=JOB_ID_KEY, value=self._job_id)
        # Read the state once before deferring: a job that ended at once completes here, and a trigger
        # never fires seconds after deferral (Airflow 3.3.2 can fail a task whose trigger fires that soon).
        job = hook.get_job(self._job_id)
        self.log.info("ADLA job %s: state %s, result %s", self._job_id, job.get("state"), job.get("result"))
        if job.get("state") == ENDED:
            self.execute_complete(context, {"status": "ended", "job": job_summary(job)})
            return
        from amlflow.triggers.adla import AdlaJobTrigger

        deadline = None
        if self.execution_timeout is not None:
            started = ti.start_date.timestamp() if getattr(ti, "start_date", None) else time.time()
            deadline = started + self.execution_timeout.total_seconds()
        self.defer(
            trigger=AdlaJobTrigger(
                self.adla_conn_id,
                self.account_name,
                self._job_id,
                poll_interval=float(config.get("adla_poll_interval")),
                deadline=deadline,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        """Back on a worker after the trigger fired: report the job, then commit outputs or fail."""
        job = event.get("job") or {}
        job_id = job.get("jobId") or event.get("job_id")
        if event.get("status") == "error":
            raise StepFailedError(f"step {self.task_id!r}: could not follow ADLA job {job_id}: {event.get('message')}")
        self.log.info(
            "ADLA job %s (%s): state %s, result %s", job_id, job.get("name"), job.get("state"), job.get("result")
        )
        errors = describe_errors(job)
        for line in errors:
            self.log.error("U-SQL error: %s", line)
        if event.get("status") == "timeout":
            raise StepFailedError(
                f"step {self.task_id!r}: execution_timeout ({self.execution_timeout}) passed; ADLA job {job_id} "
                f"was cancelled (state {job.get('state')}, result {job.get('result')})"
            )
        if job.get("result") != "Succeeded":
            detail = "; ".join(errors) or "the service gave no error message"
            raise StepFailedError(f"step {self.task_id!r}: ADLA job {job_id} ended {job.get('result')}: {detail}")
        committed = commit_written_outputs(context["ti"], self.outputs)
        StepLifecycle.resumed(context, self.outputs, self.allow_reuse, self.log).finish(committed)

    def _fingerprint(self, template: str, located: list[tuple[dict[str, Any], Any]]) -> str:
        """What the job computes: the script as written (before ``@@name@@``), its params, account and inputs."""
        return step_fingerprint(
            kind="AdlaStep",
            name=self.task_id,
            code=hashlib.sha256(template.encode()).hexdigest(),
            script_name=self.script_name,
            arguments=[],
            params={key: str(value) for key, value in self.step_params.items()},
            compute={
                "target": self.compute_target,
                "account_name": self.account_name,
                "degree_of_parallelism": self.degree_of_parallelism,
                "priority": self.priority,
                "runtime_version": self.runtime_version,
            },
            inputs=located,
            outputs=self.outputs,
        )

    def on_kill(self) -> None:
        """Killed on the worker (before deferring): cancel the job this try submitted."""
        if self._job_id is not None:
            self.log.info("ADLA job %s: the task was killed; cancelling the job", self._job_id)
            self._hook().cancel_job(self._job_id)
