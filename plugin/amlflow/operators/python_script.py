"""``PythonScriptStepOperator``: a PythonScriptStep run in the Airflow worker."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from amlflow import config
from amlflow.exceptions import StepFailedError
from amlflow.runtime.arguments import data_environment, resolve_argv
from amlflow.runtime.inputs import locate_input, stage_input
from amlflow.runtime.outputs import StagedOutputs
from amlflow.runtime.script import ScriptProcess


class PythonScriptStepOperator(BaseOperator):
    """Run ``script_name`` from ``source_directory`` with Azure ML's argv and environment.

    :param script_name: the script, relative to ``source_directory``.
    :param source_directory: the folder the script runs in (its working directory).
    :param arguments: the argv: strings (Jinja-rendered) and ``{"input": port}`` / ``{"output": port}``.
    :param inputs: input specs (see ``amlflow.factory.step_specs``).
    :param outputs: output specs; each is committed atomically after the script succeeds.
    :param step_params: ``AML_PARAMETER_<name>`` environment variables (Jinja-rendered values).
    :param compute_target: the compute target's name, type and size, or None for the worker itself.
    :param allow_reuse: whether an earlier identical run's outputs may stand in for this one.
    """

    template_fields: Sequence[str] = ("arguments", "step_params")
    template_fields_renderers = {"arguments": "json", "step_params": "json"}
    ui_color = "#cfe6ff"

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.script_name = script_name
        self.source_directory = source_directory
        self.arguments = list(arguments or [])
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.step_params = dict(step_params or {})
        self.compute_target = compute_target
        self.allow_reuse = allow_reuse
        self._process: ScriptProcess | None = None

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        workdir = tempfile.mkdtemp(prefix=f"amlflow-{self.task_id}-")
        try:
            input_paths = {spec["name"]: stage_input(spec, locate_input(spec, ti), workdir) for spec in self.inputs}
            with StagedOutputs(self.outputs, ti.dag_id, ti.run_id, ti.task_id) as outputs:
                output_paths = outputs.local_paths()
                self._run_script(input_paths, output_paths)
                committed = outputs.commit()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        for name, location in committed.items():
            ti.xcom_push(key=name, value=location.to_xcom())

    def _run_script(self, input_paths: dict[str, str], output_paths: dict[str, str]) -> None:
        argv = resolve_argv(self.arguments, input_paths, output_paths)
        env = {**os.environ, **data_environment(input_paths, output_paths), **self.step_params}
        script = os.path.join(self.source_directory, self.script_name)
        self.log.info("Running %s %s in %s", self.script_name, " ".join(argv), self.source_directory)
        self._process = ScriptProcess(
            [sys.executable, script, *argv],
            self.source_directory,
            env,
            self.log,
            config.get_int("stderr_tail_lines"),
        )
        result = self._process.run()
        if result.returncode != 0:
            tail = "\n".join(result.stderr_tail) or "(nothing on stderr)"
            raise StepFailedError(
                f"step {self.task_id!r}: {self.script_name} exited with code {result.returncode}; "
                f"last lines of stderr:\n{tail}"
            )

    def on_kill(self) -> None:
        if self._process is not None:
            self._process.kill()
