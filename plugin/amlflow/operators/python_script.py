"""``PythonScriptStepOperator``: a PythonScriptStep run in the Airflow worker."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from amlflow import config
from amlflow.exceptions import StepFailedError, StepInterruptedError
from amlflow.extra_links import STEP_LINKS
from amlflow.runtime import run_conf
from amlflow.runtime.arguments import data_environment, resolve_argv
from amlflow.runtime.artifacts import StepArtifacts
from amlflow.runtime.dataset_inputs import dataset_environment
from amlflow.runtime.fingerprint import step_fingerprint
from amlflow.runtime.inputs import locate_input, stage_inputs
from amlflow.runtime.lifecycle import StepLifecycle
from amlflow.runtime.outputs import StagedOutputs
from amlflow.runtime.script import ScriptProcess
from amlflow.runtime.script_env import run_variables, script_environment
from amlflow.runtime.snapshot import Snapshot, snapshot_for_run
from amlflow.runtime.tries import step_retry_arguments, step_try
from amlflow.storage import leases
from amlflow.storage.location import DataLocation


class PythonScriptStepOperator(BaseOperator):
    """Run ``script_name`` from ``source_directory`` with Azure ML's argv and environment.

    A try: locate inputs, snapshot the source directory (``runtime.snapshot``), fingerprint the step
    (``runtime.fingerprint``); reuse an earlier committed run with that fingerprint (``runtime.reuse``),
    or stage inputs, run the script in a copy of the snapshot, commit outputs, upload logs and metrics
    (``runtime.artifacts``) and index the run for reuse. XComs: one DataLocation per output,
    ``amlflow_fingerprint``, ``amlflow_reuse`` (only when reused: from which step run), ``amlflow_metrics``
    (small metrics).

    :param script_name: the script, relative to ``source_directory``.
    :param source_directory: the folder whose snapshot the script runs in (its working directory).
    :param arguments: the argv: strings (Jinja-rendered) and ``{"input": port}`` / ``{"output": port}``.
    :param inputs: input specs (see ``amlflow.factory.step_specs``).
    :param outputs: output specs; each is committed atomically after the script succeeds.
    :param step_params: ``AML_PARAMETER_<name>`` environment variables (Jinja-rendered values).
    :param compute_target: the compute target's name, type and size, or None for the worker itself.
    :param allow_reuse: whether an earlier identical run's outputs may stand in for this one.
    :param environment_variables: what the step's environment declares for its script
        (``runconfig.environment.environment_variables``).

    Retries: ``[amlflow] step_retries`` unless the DAG sets its own (see ``amlflow.runtime.tries``); with
    amlflow's, the step's own failure (its script exits with an error) fails the task for good.
    """

    template_fields: Sequence[str] = ("arguments", "step_params")
    template_fields_renderers = {"arguments": "json", "step_params": "json"}
    operator_extra_links = STEP_LINKS
    ui_color = "#cfe6ff"
    #: the step kind its fingerprint names (a subclass that runs another kind of step names its own)
    step_kind = "PythonScriptStep"

    def __init__(
        self,
        *,
        script_name: str,
        source_directory: str,
        arguments: list[Any] | None = None,
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
        step_params: dict[str, str] | None = None,
        compute_target: dict[str, Any] | None = None,
        allow_reuse: bool = True,
        environment_variables: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._retries_are_ours = step_retry_arguments(kwargs)
        super().__init__(**kwargs)
        self.script_name = script_name
        self.source_directory = source_directory
        self.arguments = list(arguments or [])
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.step_params = dict(step_params or {})
        self.compute_target = compute_target
        self.allow_reuse = allow_reuse
        self.environment_variables = dict(environment_variables or {})
        self._process: ScriptProcess | None = None
        self._stopping = False

    @classmethod
    def get_serialized_fields(cls) -> frozenset[str]:
        """Airflow's serialized fields plus ``inputs``, the specs a submission's data paths are checked against."""
        # The api-server sees only the serialized DAG: it reads the input specs from it to check a
        # submission's DataPathAssignments against the pipeline's DataReference inputs.
        return frozenset(super().get_serialized_fields() | {"inputs"})

    def execute(self, context: Any) -> None:
        """Run the script as one step try (``step_try``), whose clean-up covers the datastores of the outputs."""
        datastores = [spec.get("datastore") or config.get("default_datastore") for spec in self.outputs]
        with step_try(context, self.log, datastores, self._retries_are_ours):
            self._execute(context)

    def _execute(self, context: Any) -> None:
        ti = context["ti"]
        located = [(spec, locate_input(spec, ti)) for spec in self.inputs]
        snapshot = snapshot_for_run(self.source_directory, ti.dag_id, ti.run_id, self.task_id)
        self._check_snapshot(snapshot)
        fingerprint = step_fingerprint(
            kind=self.step_kind,
            name=self.task_id,
            code=snapshot.content_hash,
            script_name=self.script_name,
            arguments=self.arguments,
            params={**self.environment_variables, **self.step_params},
            compute=self.compute_target,
            inputs=located,
            outputs=self.outputs,
        )
        lifecycle = StepLifecycle(context, self.outputs, fingerprint, self.allow_reuse, self.log)
        if lifecycle.reused("the script does not run"):
            return
        lifecycle.finish(*self._run(context, snapshot, located))

    def _check_snapshot(self, snapshot: Snapshot) -> None:
        """Fail the step before anything runs when the snapshot lacks its script."""
        if not snapshot.contains(self.script_name):
            raise StepFailedError(
                f"step {self.task_id!r}, field 'script_name': {self.script_name} is not in the snapshot of "
                f"{self.source_directory} (missing, outside the folder, or excluded by .amlignore/.gitignore)"
            )

    def process_argv(self, cwd: str, argv: list[str], python: str) -> list[str]:
        """The step's process: ``python`` (the worker's, or a container's interpreter) running the script."""
        return [python, os.path.join(cwd, self.script_name), *argv]

    def _local_environment(self, cwd: str, env: dict[str, str]) -> dict[str, str]:
        """The environment of the step's process in the worker (not in a container); a subclass adds to it."""
        return env

    def _run(
        self, context: Any, snapshot: Snapshot, located: list[tuple[dict[str, Any], Any]]
    ) -> tuple[dict[str, DataLocation], dict[str, Any], dict[str, Any]]:
        """Stage inputs, run the script in a copy of the snapshot, commit outputs, upload artifacts.

        Returns the committed outputs, the datasets some were registered as, and the metrics.
        """
        ti = context["ti"]
        owner = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "try_number": ti.try_number}
        with leases.take(leases.work_root(), "step-", owner) as workdir:
            artifacts = StepArtifacts(workdir.path, ti.dag_id, ti.run_id, ti.task_id)
            try:
                datasets, input_paths = stage_inputs(located, workdir.path)
                uploads = [(spec, input_paths[spec["name"]]) for spec in self.inputs if spec.get("mode") == "upload"]
                with StagedOutputs(self.outputs, ti.dag_id, ti.run_id, ti.task_id, uploads) as outputs:
                    cwd = snapshot.checkout(os.path.join(workdir.path, "source"))
                    aml_env = {
                        **data_environment(input_paths, outputs.local_paths()),
                        **dataset_environment(datasets),
                        **artifacts.environment(),
                        **run_variables(ti.run_id, ti.task_id, run_conf.experiment_name(context["dag_run"].conf)),
                        **self.step_params,
                    }
                    self._run_script(cwd, input_paths, outputs.local_paths(), artifacts, aml_env)
                    committed = outputs.commit()
                    registered = outputs.registered
            finally:
                # A failed script's logs and metrics are kept too: they say why it failed.
                metrics = artifacts.upload()
        return committed, registered, metrics

    def _run_script(
        self,
        cwd: str,
        input_paths: dict[str, str],
        output_paths: dict[str, str],
        artifacts: StepArtifacts,
        aml_env: dict[str, str],
    ) -> None:
        """Run the script; ``aml_env`` holds Azure ML's variables (data, parameters, run context)."""
        argv = resolve_argv(self.arguments, input_paths, output_paths)
        self.log.info("Running %s %s (snapshot of %s)", self.script_name, " ".join(argv), self.source_directory)
        self._process = ScriptProcess(
            self.process_argv(cwd, argv, sys.executable),
            cwd,
            self._local_environment(cwd, script_environment(self.environment_variables, aml_env)),
            self.log,
            config.get_int("stderr_tail_lines"),
            artifacts.log_files,
        )
        result = self._process.run()
        if self._stopping:
            raise self.interruption()
        if result.returncode != 0:
            raise self.script_failure(f"{self.script_name} exited with code {result.returncode}", result.stderr_tail)

    def script_failure(self, what: str, stderr_tail: list[str] | str) -> StepFailedError:
        """The error for a failure of the step's own script, with the last lines it wrote on stderr."""
        tail = "\n".join(stderr_tail) if isinstance(stderr_tail, list) else stderr_tail
        return StepFailedError(f"step {self.task_id!r}: {what}; last lines of stderr:\n{tail or '(nothing on stderr)'}")

    def interruption(self) -> StepInterruptedError:
        """The error of a try whose task was told to stop (SIGTERM) and stopped its script."""
        return StepInterruptedError(
            f"step {self.task_id!r}: the task was told to stop (SIGTERM: its worker or the scheduler is stopping, "
            "or the task was marked failed or cleared) and stopped the script; a try that could not finish is "
            "retried while retries are left"
        )

    def on_kill(self) -> None:
        """SIGTERM to the task (Airflow calls this and lets ``execute`` go on): stop the script."""
        self._stopping = True
        self.log.warning("The task was told to stop: stopping the script of step %r", self.task_id)
        if self._process is not None:
            self._process.kill()
