"""``PythonScriptStep``: run a Python script with resolved data paths and parameter values."""

from __future__ import annotations

import os
import re
from typing import Any

from amlflow.core.environment import missing_here
from amlflow.core.runconfig import distributed_problem
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core.builder import PipelineStep


def parameter_env_name(name: str) -> str:
    """Azure ML's environment variable for a step parameter: ``AML_PARAMETER_<name>``, odd chars as ``_``."""
    return "AML_PARAMETER_" + re.sub(r"[~\W]", "_", name)


#: Azure ML's ``runconfig_pipeline_params`` keys: all set how many nodes or processes a run takes.
_DISTRIBUTED_PIPELINE_PARAMS = (
    "NodeCount",
    "MpiProcessCountPerNode",
    "TensorflowWorkerCount",
    "TensorflowParameterServerCount",
)


class PythonScriptStep(PipelineStep):
    """Runs ``script_name`` from ``source_directory`` with ``arguments`` on ``compute_target``.

    ``source_directory`` defaults to the folder of the file that declares the step (Azure ML uses the
    current directory, which for an Airflow DAG file is wherever the scheduler happened to start); a
    relative one is taken from that folder too.
    """

    kind = "PythonScriptStep"
    accepts_datasets = True

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: list[Any] | None = None,
        compute_target: Any = None,
        runconfig: Any = None,
        runconfig_pipeline_params: dict[str, Any] | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
    ) -> None:
        if not isinstance(script_name, str) or not script_name:
            raise UserErrorException(f"PythonScriptStep: script_name must be a non-empty string, got {script_name!r}")
        super().__init__(name or script_name, inputs, outputs, arguments)
        self.script_name = script_name
        if compute_target is None and runconfig is not None:
            compute_target = getattr(runconfig, "target", None)
        self.compute_target = compute_target
        self.runconfig = runconfig
        self.runconfig_pipeline_params = dict(runconfig_pipeline_params or {})
        self.params = dict(params or {})
        self._source_directory = source_directory
        self.allow_reuse = allow_reuse
        self.version = version
        self.hash_paths = hash_paths

    def source_directory(self, default: str | None = None) -> str:
        """The absolute source directory, relative ones taken from the declaring file's folder."""
        base = os.path.dirname(self._source_file) if self._source_file else os.getcwd()
        chosen = self._source_directory or default or base
        return os.path.normpath(os.path.join(base, os.path.expanduser(chosen)))

    def parameters(self) -> list[Any]:
        """The base parameters, plus the PipelineParameters among ``params``."""
        from amlflow.pipeline.core.graph import PipelineParameter

        in_params = [v for v in self.params.values() if isinstance(v, PipelineParameter)]
        return super().parameters() + in_params

    def validate_step(self, pipeline: Any) -> list[tuple[str, str]]:
        """The script, ``params`` that clash with neither ``runconfig_pipeline_params`` nor another parameter, and the
        environment.
        """
        errors = self._validate_script(pipeline.default_source_directory)
        both = set(self.params) & set(self.runconfig_pipeline_params)
        if both:
            errors.append(("params", f"{', '.join(sorted(both))} also in runconfig_pipeline_params"))
        implicit = {p.name for p in super().parameters()}
        for key, value in self.params.items():
            if key in implicit and getattr(value, "name", None) != key:
                errors.append(("params", f"parameter name {key!r} is already in use by a PipelineParameter"))
        errors.extend(("runconfig", problem) for problem in self._environment_problems(pipeline))
        return errors + self._distributed_problems()

    def distributed_field(self) -> str:
        """The field a refused distributed setting is reported under."""
        return "runconfig"

    def _distributed_problems(self) -> list[tuple[str, str]]:
        """A step runs as one process: no distributed job, no node or process counts, set or run-time."""
        errors = []
        problem = distributed_problem(self.runconfig)
        if problem:
            errors.append((self.distributed_field(), problem))
        counts = sorted(set(self.runconfig_pipeline_params) & set(_DISTRIBUTED_PIPELINE_PARAMS))
        if counts:
            errors.append(
                (
                    "runconfig_pipeline_params",
                    f"{', '.join(counts)}: amlflow runs a step as one process, so node and process counts can "
                    "not be set at run time; leave them out",
                )
            )
        return errors

    def in_container(self, pipeline: Any) -> bool:
        """Whether the step runs in a container: on a DockerCompute target, or with Docker on in its runconfig."""
        from amlflow.core.compute import DockerCompute, resolve_compute

        compute = resolve_compute(pipeline.workspace, self.compute_target)
        return isinstance(compute, DockerCompute) or bool(getattr(self.runconfig, "uses_docker", False))

    def _environment_problems(self, pipeline: Any) -> list[str]:
        """What the step's environment asks for that the place it runs can not give."""
        environment = getattr(self.runconfig, "environment", None)
        if environment is None:
            return []
        problems = []
        spark = getattr(environment, "spark", None)
        if spark is not None and (spark.packages or spark.repositories):
            problems.append(
                f"environment {environment.name!r}: Spark packages need Spark, which a PythonScriptStep does not "
                "have; run Spark code in a DatabricksStep (its maven_libraries)"
            )
        deps = environment.python.conda_dependencies
        if environment.python.user_managed_dependencies or self.in_container(pipeline):
            return problems
        missing = missing_here(list(deps.conda_packages), list(deps.pip_packages))
        if missing:
            problems.append(
                f"environment {environment.name!r} lists packages this Python does not have ({', '.join(missing)}), "
                "and the step runs in the worker's own Python, where amlflow installs nothing: run it in a container "
                "(runconfig.docker.use_docker = True, or a DockerCompute target), or install them on the workers"
            )
        return problems

    def _validate_script(self, default_source_directory: str | None) -> list[tuple[str, str]]:
        folder = self.source_directory(default_source_directory)
        if not os.path.isdir(folder):
            return [("source_directory", f"folder not found at {folder}")]
        script = os.path.join(folder, self.script_name)
        if not os.path.isfile(script):
            return [("script_name", f"script not found at {script}")]
        return []
