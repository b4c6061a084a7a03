"""``ParallelRunStep``: an entry script's ``run(mini_batch)`` over the mini-batches of a dataset, in parallel.

In Airflow the step is a task group of three tasks (``amlflow.factory.parallel_run_tasks``): ``<name>.plan``
lists the mini-batches, ``<name>.mini_batch`` is mapped over them (one task instance per mini-batch, at most
``node_count * process_count_per_node`` at once), and ``<name>`` gathers their rows, checks the error
thresholds and commits the output. The construction-time checks and messages are Azure ML's.
"""

from __future__ import annotations

import os
from typing import Any

from amlflow.core.environment import missing_here
from amlflow.data.dataset_consumption_config import DIRECT_MODE, DatasetConsumptionConfig
from amlflow.data.file_dataset import FileDataset
from amlflow.data.output_dataset_config import OutputFileDatasetConfig
from amlflow.data.tabular_dataset import TabularDataset
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core._source import parsing_dag_file
from amlflow.pipeline.core.builder import InputPortBinding, PipelineData, PipelineStep
from amlflow.pipeline.core.graph import PipelineParameter
from amlflow.pipeline.steps.parallel_run_config import (
    DEFAULT_MINI_BATCH_BYTES,
    DEFAULT_MINI_BATCH_FILES,
    ParallelRunConfig,
)

FILE, TABULAR = "FileDataset", "TabularDataset"
#: ``--name`` arguments Azure ML's driver takes for itself: a step's own arguments may not use them.
RESERVED_ARGUMENTS = (
    "mini_batch_size",
    "error_threshold",
    "allowed_failed_count",
    "allowed_failed_percent",
    "output",
    "output_action",
    "logging_level",
    "process_count_per_node",
    "run_invocation_timeout",
    "run_max_try",
    "append_row_file_name",
    "partition_keys",
)
_ALLOWED_INPUTS = "DatasetConsumptionConfig, OutputFileDatasetConfig (or its as_input())"


class ParallelRunStep(PipelineStep):
    """``ParallelRunStep(name, parallel_run_config, inputs, output=None, side_inputs=None, arguments=None,
    allow_reuse=True)``.

    :param inputs: datasets, all FileDatasets or all TabularDatasets (as ``as_named_input``; a FileDataset
        may be mounted), or outputs of earlier steps (``OutputFileDatasetConfig``): the data split into
        mini-batches.
    :param output: the PipelineData (or OutputFileDatasetConfig) that receives the ``append_row`` file and
        what the entry script writes to ``EntryScript().output_dir``; required unless ``summary_only``.
    :param side_inputs: other data every mini-batch reads whole (a model folder, labels), given to the
        script through ``arguments``.
    :param arguments: the entry script's own arguments (``--name value`` pairs only, none of Azure ML's
        reserved names).
    """

    kind = "ParallelRunStep"
    accepts_datasets = True

    def __init__(
        self,
        name: str,
        parallel_run_config: ParallelRunConfig,
        inputs: list[Any],
        output: Any = None,
        side_inputs: list[Any] | None = None,
        arguments: list[Any] | None = None,
        allow_reuse: bool = True,
    ) -> None:
        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise UserErrorException("Param parallel_run_config must be a azureml.pipeline.steps.ParallelRunConfig")
        _check_arguments(arguments)
        if not isinstance(inputs, list) or not inputs:
            raise UserErrorException("The parameter 'inputs' must be a list and have at least one element.")
        primary = [item.as_input() if isinstance(item, OutputFileDatasetConfig) else item for item in inputs]
        self.input_type = _input_type(primary[0], bool(parallel_run_config.partition_keys))
        if any(_input_type(item, bool(parallel_run_config.partition_keys)) != self.input_type for item in primary):
            raise UserErrorException("All inputs of step must be same type")
        if parallel_run_config.output_action.lower() != "summary_only" and output is None:
            raise UserErrorException("Please specify output parameter.")
        if not parsing_dag_file():  # a DAG file's steps are checked by validate(), from the file's folder
            _check_source(parallel_run_config)
        side = list(side_inputs or [])
        outputs = [output] if output is not None else []
        super().__init__(name, [*primary, *side], outputs, arguments)
        self.parallel_run_config = parallel_run_config
        self.compute_target = parallel_run_config.compute_target
        self.allow_reuse = allow_reuse
        self.primary_input_count = len(primary)
        self.side_input_count = len(side)

    @property
    def output(self) -> PipelineData | None:
        """The step's output (as a PipelineData), or None for ``summary_only`` without one."""
        return self.outputs[0] if self.outputs else None

    def source_directory(self, default: str | None = None) -> str:
        """The absolute source directory, relative ones taken from the declaring file's folder."""
        base = os.path.dirname(self._source_file) if self._source_file else os.getcwd()
        chosen = self.parallel_run_config.source_directory or default or base
        return os.path.normpath(os.path.join(base, os.path.expanduser(chosen)))

    def mini_batch_size(self) -> int | PipelineParameter:
        """Files (FileDataset) or bytes (TabularDataset) per mini-batch: the configured size or Azure ML's default."""
        size = self.parallel_run_config.mini_batch_size
        if size is not None:
            return size
        return DEFAULT_MINI_BATCH_FILES if self.input_type == FILE else DEFAULT_MINI_BATCH_BYTES

    def parameters(self) -> list[Any]:
        """The base parameters, plus the PipelineParameters among the parallel run configuration's tunables."""
        config = self.parallel_run_config
        tunables = [
            config.node_count,
            config.process_count_per_node,
            config.mini_batch_size,
            config.run_invocation_timeout,
            config.run_max_try,
            config.logging_level,
            config.partition_keys,
        ]
        return super().parameters() + [value for value in tunables if isinstance(value, PipelineParameter)]

    def validate_step(self, pipeline: Any) -> list[tuple[str, str]]:
        """The entry script exists under the source directory, and the environment is one amlflow can run."""
        errors: list[tuple[str, str]] = []
        script = os.path.join(
            self.source_directory(pipeline.default_source_directory), self.parallel_run_config.entry_script
        )
        if not os.path.isfile(script):
            errors.append(("parallel_run_config.entry_script", f"script not found at {script}"))
        errors.extend(("parallel_run_config.environment", problem) for problem in self._environment_problems(pipeline))
        return errors

    def _environment_problems(self, pipeline: Any) -> list[str]:
        from amlflow.core.compute import DockerCompute, resolve_compute

        environment = self.parallel_run_config.environment
        if isinstance(resolve_compute(pipeline.workspace, self.compute_target), DockerCompute):
            return [
                "a ParallelRunStep runs its mini-batches in the workers' own Python; a DockerCompute target is not "
                "supported for it yet: use an AmlCompute target and install the environment's packages on the workers"
            ]
        if environment.python.user_managed_dependencies:
            return []
        deps = environment.python.conda_dependencies
        # azureml-core and azureml-dataset-runtime are what Azure ML's driver needs; amlflow is that driver.
        pip = [spec for spec in deps.pip_packages if not spec.lower().startswith("azureml")]
        missing = missing_here(list(deps.conda_packages), pip)
        if not missing:
            return []
        return [
            f"environment {environment.name!r} lists packages this Python does not have ({', '.join(missing)}), and "
            "the mini-batches run in the worker's own Python, where amlflow installs nothing: install them on the "
            "workers, or run the step on a DockerCompute target"
        ]


def _check_arguments(arguments: list[Any] | None) -> None:
    """Azure ML's rule: keyword arguments only (they are merged with its driver's), none of its reserved names."""
    if not arguments:
        return
    first = arguments[0]
    if not isinstance(first, str) or not first.startswith("-"):
        raise UserErrorException(
            f"Found invalid argument '{first}'. As your arguments will be merged with reserved argument, "
            "you can only use keyword argument."
        )
    for item in arguments:
        if isinstance(item, str) and item.startswith("--"):
            name = item[2:].split("=", 1)[0]
            if name in RESERVED_ARGUMENTS:
                raise UserErrorException(
                    f"'{name}' is a reserved argument in ParallelRunStep, please use another argument name instead."
                )


def _input_type(item: Any, partitioned: bool) -> str:
    """FILE or TABULAR for a primary input, or Azure ML's error for one that can not be split."""
    if isinstance(item, InputPortBinding) and isinstance(item.bind_object, PipelineData):
        return FILE  # an earlier step's OutputFileDatasetConfig, read as files
    if not isinstance(item, DatasetConsumptionConfig):
        raise UserErrorException(f"Step input must be of any type: {_ALLOWED_INPUTS}, found {type(item)}")
    dataset = item.default_dataset
    if isinstance(dataset, OutputFileDatasetConfig):
        return FILE
    if isinstance(dataset, TabularDataset):
        if item.mode != DIRECT_MODE:
            raise UserErrorException("Please ensure input dataset consumption mode is direct")
        return TABULAR
    if isinstance(dataset, FileDataset) and partitioned and item.mode != DIRECT_MODE:
        raise UserErrorException("Please ensure input dataset consumption mode is direct for partitioned dataset")
    # A FileDataset, or a registered dataset named in a DAG file (its type is known when the plan reads it).
    return FILE


def _check_source(config: ParallelRunConfig) -> None:
    source_dir, entry_script = config.source_directory, config.entry_script
    if source_dir:
        if not os.path.exists(source_dir):
            raise ValueError(f"The value '{source_dir}' specified in source_directory doesn't exist.")
        if not os.path.isdir(source_dir):
            raise ValueError(f"The value '{source_dir}' specified in source_directory is not a directory.")
        if entry_script:
            full_path = os.path.join(source_dir, entry_script)
            if not os.path.exists(full_path):
                raise ValueError(f"The value '{entry_script}' specified in entry_script doesn't exist.")
            if not os.path.isfile(full_path):
                raise ValueError(f"The value '{entry_script}' specified in entry_script is not a file.")
