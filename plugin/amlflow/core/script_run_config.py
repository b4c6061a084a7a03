"""``ScriptRunConfig``: a script or command, its source directory and its ``RunConfiguration``, as ``azureml.core``.

amlflow uses one as the ``runconfig`` of a ``CommandStep`` (its command, source directory, compute
target and environment). ``distributed_job_config`` is kept in the run configuration as Azure ML keeps
it; a step refuses one asking for more than one process (``runconfig.distributed_problem``), as amlflow
runs a step as one process.
"""

from __future__ import annotations

import logging
from typing import Any

from amlflow.core.runconfig import (
    DockerConfiguration,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    TensorflowConfiguration,
)
from amlflow.exceptions import UserErrorException

log = logging.getLogger(__name__)

_DISTRIBUTED = (TensorflowConfiguration, MpiConfiguration, PyTorchConfiguration)


class ScriptRunConfig:
    """What to run (``script`` with ``arguments``, or ``command``), from ``source_directory``, and how.

    :param source_directory: the folder of the code (a relative one is taken as the step that uses it takes it).
    :param script: the script, relative to ``source_directory``; not with ``command``.
    :param arguments: the script's arguments.
    :param run_config: a whole ``RunConfiguration``; then ``compute_target``, ``environment``,
        ``distributed_job_config``, ``max_run_duration_seconds`` and ``docker_runtime_config`` are ignored
        (Azure ML warns so, and so does amlflow).
    :param compute_target: a compute target, its name, or "local" (the default).
    :param environment: the ``Environment`` (default: ``default-environment``).
    :param distributed_job_config: an ``MpiConfiguration``, ``PyTorchConfiguration`` or ``TensorflowConfiguration``.
    :param resume_from: not supported by amlflow (refused).
    :param max_run_duration_seconds: the longest the run may take; a CommandStep's task gets it as its Airflow
        ``execution_timeout`` (unless it is Azure ML's default, 30 days).
    :param command: the command, a string or a list (``['python', 'train.py', '--epochs', 30]``).
    :param docker_runtime_config: a ``DockerConfiguration``.
    """

    MAX_DURATION_SECONDS_DEFAULT = 2592000

    def __init__(
        self,
        source_directory: str,
        script: str | None = None,
        arguments: list[Any] | None = None,
        run_config: RunConfiguration | None = None,
        _telemetry_values: Any = None,
        compute_target: Any = None,
        environment: Any = None,
        distributed_job_config: Any = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = MAX_DURATION_SECONDS_DEFAULT,
        command: str | list[Any] | None = None,
        docker_runtime_config: DockerConfiguration | None = None,
    ) -> None:
        self.source_directory = source_directory
        self.script = script
        self.command = command
        self.arguments = arguments
        if run_config is not None:
            self._take_run_config(
                run_config,
                max_run_duration_seconds != self.MAX_DURATION_SECONDS_DEFAULT
                or any([compute_target, environment, distributed_job_config, docker_runtime_config]),
            )
        else:
            self.run_config = RunConfiguration()
            self.run_config.target = compute_target if compute_target else "local"
            if environment is not None:
                self.run_config.environment = environment
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
            if distributed_job_config is not None:
                _set_distributed(self.run_config, distributed_job_config)
            if docker_runtime_config is not None:
                if not isinstance(docker_runtime_config, DockerConfiguration):
                    raise UserErrorException("'docker_runtime_config' must be a 'DockerConfiguration' object.")
                self.run_config.docker = docker_runtime_config
            elif environment is not None:
                # As in Azure ML: the environment's own Docker switch becomes the run's.
                self.run_config.docker = DockerConfiguration(use_docker=bool(environment.docker.enabled))
        if resume_from is not None:
            raise UserErrorException(
                "ScriptRunConfig: resume_from is not supported by amlflow; give the checkpoint's folder to the "
                "step as an input (a DataReference, or a DataPath parameter) and an argument instead"
            )
        if self.command and (self.script or self.arguments):
            raise UserErrorException(
                "ScriptRunConfig: Both command and script/argument properties cannot be used together to submit a "
                "run; put the script and its arguments in the command: command=['python', 'train.py', '--arg1', value]"
            )
        self._telemetry_values = _telemetry_values

    def _take_run_config(self, run_config: RunConfiguration, ignored_given: bool) -> None:
        """Azure ML's rules when a whole RunConfiguration is given: these arguments win over its own."""
        if ignored_given:
            log.warning(
                "If 'run_config' is specified, the following parameters will be ignored: 'compute_target', "
                "'environment', 'distributed_job_config', 'max_run_duration_seconds', and 'docker_runtime_config'."
            )
        for field in ("script", "arguments", "command"):
            given, theirs = getattr(self, field), getattr(run_config, field, None)
            if given and theirs:
                log.warning(
                    "If '%s' has been provided here and it is specified in 'run_config', the '%s' provided in "
                    "ScriptRunConfig initialization will take precedence.",
                    field,
                    field,
                )
            elif theirs and not given:
                setattr(self, field, theirs)
        self.run_config = run_config

    def __repr__(self) -> str:
        what = f"command={self.command!r}" if self.command else f"script={self.script!r}"
        return f"ScriptRunConfig(source_directory={self.source_directory!r}, {what})"


def _set_distributed(run_config: RunConfiguration, config: Any) -> None:
    """The distributed section, framework and communicator Azure ML sets for ``config``."""
    if not isinstance(config, _DISTRIBUTED):
        raise UserErrorException(
            "'distributed_job_config' must be an 'amlflow.core.runconfig.TensorflowConfiguration', "
            "'amlflow.core.runconfig.MpiConfiguration', or 'amlflow.core.runconfig.PyTorchConfiguration' object."
        )
    if isinstance(config, TensorflowConfiguration):
        run_config.node_count = config.worker_count
        run_config.tensorflow = config
        run_config.framework, run_config.communicator = "TensorFlow", "ParameterServer"
    elif isinstance(config, MpiConfiguration):
        run_config.node_count = config.node_count
        run_config.mpi = config
        run_config.framework, run_config.communicator = "Python", "IntelMpi"
    else:
        run_config.node_count = config.node_count
        run_config.pytorch = config
        run_config.framework, run_config.communicator = "PyTorch", config.communication_backend
