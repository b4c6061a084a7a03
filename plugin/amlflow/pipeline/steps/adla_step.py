"""``AdlaStep``: run a U-SQL script on an Azure Data Lake Analytics account, as in ``azureml.pipeline.steps``.

Microsoft retired Azure Data Lake Analytics on 2024-02-29 (README, "AdlaStep"): the step is here so that
ported pipelines keep their definition, and run against whatever still serves the ADLA job API.
"""

from __future__ import annotations

from typing import Any

from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core.builder import PipelineStep
from amlflow.pipeline.steps.python_script_step import PythonScriptStep

#: ADLA's default job priority; lower numbers run first.
DEFAULT_PRIORITY = 1000


class AdlaStep(PipelineStep):
    """Submits ``script_name`` (U-SQL, in ``source_directory``) as a job of the ``compute_target`` account.

    Before submission every ``@@name@@`` in the script becomes: the URI of the input or output of that
    port name, or the value of ``params[name]`` (a PipelineParameter gives the run's value). Outputs are
    written by the job at the step's run-scoped output folder and committed (manifest) once it succeeds.
    """

    kind = "AdlaStep"

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        degree_of_parallelism: int | None = None,
        priority: int | None = None,
        runtime_version: str | None = None,
        compute_target: Any = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
    ) -> None:
        if not isinstance(script_name, str) or not script_name:
            raise UserErrorException(f"AdlaStep: script_name must be a non-empty string, got {script_name!r}")
        super().__init__(name or script_name, inputs, outputs)
        if compute_target is None:
            raise UserErrorException(f"AdlaStep {self.name!r}: compute_target is required (an AdlaCompute or its name)")
        self.script_name = script_name
        # A bare name can only mean an ADLA account here (Azure ML resolves it as AdlaCompute too).
        self.compute_target = (compute_target, "AdlaCompute") if isinstance(compute_target, str) else compute_target
        self.params = dict(params or {})
        # Azure ML: "must be greater than 0. If set to less than 0, defaults to 1".
        dop = degree_of_parallelism
        self.degree_of_parallelism = 1 if dop is None or (isinstance(dop, int) and dop < 1) else dop
        self.priority = DEFAULT_PRIORITY if priority is None else priority
        self.runtime_version = runtime_version
        self._source_directory = source_directory
        self.allow_reuse = allow_reuse
        self.version = version
        self.hash_paths = hash_paths

    # The script is found exactly as PythonScriptStep finds its own.
    source_directory = PythonScriptStep.source_directory
    _validate_script = PythonScriptStep._validate_script

    def parameters(self) -> list[Any]:
        """The PipelineParameters among the step's ``params``."""
        from amlflow.pipeline.core.graph import PipelineParameter

        return [v for v in self.params.values() if isinstance(v, PipelineParameter)]

    def validate_step(self, pipeline: Any) -> list[tuple[str, str]]:
        """The script, an AdlaCompute target, priority and parallelism, and params that do not clash with port names."""
        from amlflow.core.compute import AdlaCompute, resolve_compute

        errors = self._validate_script(pipeline.default_source_directory)
        target = resolve_compute(pipeline.workspace, self.compute_target)
        if not isinstance(target, AdlaCompute):
            errors.append(("compute_target", f"{target!r} is not an AdlaCompute"))
        if not isinstance(self.priority, int) or isinstance(self.priority, bool) or self.priority < 1:
            errors.append(("priority", f"must be an integer greater than 0 (lower runs first), got {self.priority!r}"))
        if not isinstance(self.degree_of_parallelism, int) or isinstance(self.degree_of_parallelism, bool):
            errors.append(("degree_of_parallelism", f"must be an integer, got {self.degree_of_parallelism!r}"))
        ports = set(self.input_names()) | set(self.output_names())
        for key in self.params:
            if not isinstance(key, str) or not key:
                errors.append(("params", f"parameter name {key!r} must be a non-empty string"))
            elif key in ports:
                errors.append(("params", f"{key!r} is also an input or output name: @@{key}@@ would be ambiguous"))
        return errors
