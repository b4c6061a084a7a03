"""``CommandStep``: run a command (a shell command line) in the snapshot of a source directory."""

from __future__ import annotations

import os
from typing import Any

from amlflow.core.script_run_config import ScriptRunConfig
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.steps.python_script_step import PythonScriptStep


class CommandStep(PythonScriptStep):
    """Runs ``command`` in the snapshot of ``source_directory``, with a PythonScriptStep's lifecycle.

    ``command`` is a string, a shell command line (``'python train.py --epochs 30'``, ``'ls -lrt'``), or a
    list whose first item is that command line and whose other items are single arguments: strings,
    PipelineParameters, and data (a PipelineData, DataReference, a dataset's ``as_mount()``...), which
    become their paths. ``python`` (and ``python3``) in the command is the worker's Python, the one amlflow
    is installed in (in a container: the image's). Inputs are staged, outputs committed atomically, the
    ``AZUREML_*`` / ``AML_PARAMETER_*`` variables set and the run reused by its fingerprint, which covers
    the command, exactly as for a PythonScriptStep.

    ``runconfig`` may be a ``ScriptRunConfig`` (its command, source directory, compute target and
    environment are used, as in Azure ML) or a ``RunConfiguration``. ``source_directory`` defaults to
    the folder of the file that declares the step, as a PythonScriptStep's does.
    """

    kind = "CommandStep"
    #: the operator stages datasets as a PythonScriptStep's does
    accepts_datasets = True

    def __init__(
        self,
        command: str | list[Any] | None = None,
        name: str | None = None,
        compute_target: Any = None,
        runconfig: Any = None,
        runconfig_pipeline_params: dict[str, Any] | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
    ) -> None:
        self.script_run_config = runconfig if isinstance(runconfig, ScriptRunConfig) else None
        if self.script_run_config is not None:
            source_directory = source_directory or runconfig.source_directory
            command = command or runconfig.command
            runconfig = runconfig.run_config
        if runconfig is not None:
            command = command or getattr(runconfig, "command", None)
        if not command:
            raise UserErrorException("command is required either from command directly or runconfig.")
        parts = [command] if isinstance(command, str) else list(command)
        if not parts or not isinstance(parts[0], str) or not parts[0].strip():
            raise UserErrorException(
                f"CommandStep: the first item of command must be the command line (a non-empty string), got {command!r}"
            )
        #: the command as given (a string, or a list)
        self.command = command
        #: the shell command line the other items of a command list are appended to
        self.command_line = parts[0]
        super().__init__(
            # The command line stands where a PythonScriptStep's script name does (fingerprint, messages).
            script_name=parts[0],
            name=name or "CommandStep_" + parts[0].split(" ", 1)[0],
            arguments=parts[1:],
            compute_target=compute_target,
            runconfig=runconfig,
            runconfig_pipeline_params=runconfig_pipeline_params,
            inputs=inputs,
            outputs=outputs,
            params=params,
            source_directory=source_directory,
            allow_reuse=allow_reuse,
            version=version,
        )

    @property
    def constructor_arguments(self) -> dict[str, Any]:
        """The arguments, with a ScriptRunConfig given as what the step takes of it (command, runconfig), so
        a YAML definition (and a notebook's submission) carries it as a RunConfiguration."""
        arguments = super().constructor_arguments
        if self.script_run_config is None:
            return arguments
        arguments.pop("runconfig", None)
        arguments.setdefault("command", self.command)
        arguments["runconfig"] = self.runconfig
        if self.max_run_duration_seconds() is not None:
            raise UserErrorException(
                f"step {self.name!r}, field 'runconfig': max_run_duration_seconds can not be sent to the deployment "
                "yet; publish the pipeline from a DAG file, or leave it out"
            )
        return arguments

    def max_run_duration_seconds(self) -> int | None:
        """The runconfig's ``max_run_duration_seconds`` (the task's timeout), unless it is Azure ML's 30 days."""
        seconds = getattr(self.runconfig, "max_run_duration_seconds", None)
        return None if seconds in (None, ScriptRunConfig.MAX_DURATION_SECONDS_DEFAULT) else int(seconds)

    def validate_wiring(self) -> list[tuple[str, ...]]:
        """The base wiring rules, with problems of the arguments reported under ``command`` (where the data are
        written).
        """
        # The data of a command list are the step's arguments: say so under the field the caller wrote.
        wiring = super().validate_wiring()
        return [("command", *rest) if field == "arguments" else (field, *rest) for field, *rest in wiring]

    def distributed_field(self) -> str:
        """A ScriptRunConfig's distributed settings are its ``distributed_job_config``."""
        return "runconfig" if self.script_run_config is None else "runconfig (its distributed_job_config)"

    def _validate_script(self, default_source_directory: str | None) -> list[tuple[str, str]]:
        # The command may be one the compute has (``ls``); only the folder it runs in must exist.
        folder = self.source_directory(default_source_directory)
        if not os.path.isdir(folder):
            return [
                (
                    "source_directory",
                    f"folder not found at {folder}: source_directory should be an existing directory "
                    "or None for commands already in the target system",
                )
            ]
        return []
