"""``ParallelRunConfig``: how a ``ParallelRunStep`` splits its input and runs its entry script, as Azure ML's.

The constructor takes Azure ML's parameters with its defaults and raises its ``ValueError``s at the same
moment (construction). ``mini_batch_size`` is a count of files for a FileDataset and a size for a
TabularDataset (``1024``, ``"1KB"``, ``"10MB"``, ``"1GB"``); a text size is turned into bytes here, as Azure
ML does. ``node_count``, ``process_count_per_node``, ``mini_batch_size``, ``run_invocation_timeout``,
``run_max_try``, ``logging_level`` and ``partition_keys`` may be PipelineParameters.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from amlflow.core.environment import Environment
from amlflow.pipeline.core.graph import PipelineParameter

OUTPUT_ACTIONS = ("summary_only", "append_row")
DEFAULT_APPEND_ROW_FILE_NAME = "parallel_run_step.txt"
#: Azure ML's defaults when ``mini_batch_size`` is not given: files for a FileDataset, bytes for a TabularDataset.
DEFAULT_MINI_BATCH_FILES = 10
DEFAULT_MINI_BATCH_BYTES = 1024 * 1024
_SIZE = re.compile(r"^\d+([kKmMgG][bB])*$")
_UNITS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}
_FILE_NAME_FORBIDDEN = re.compile(r'[~"#%&*:<>?\/\\{|}]+')


class ParallelRunConfig:
    """Configuration of a :class:`amlflow.pipeline.steps.ParallelRunStep` (Azure ML's parameters and defaults).

    :param environment: the ``Environment`` the entry script runs in (its packages must be on the workers,
        or the compute target must be a ``DockerCompute``).
    :param entry_script: the script with ``init()`` and ``run(mini_batch)``, relative to ``source_directory``.
    :param error_threshold: failed items (files, rows) tolerated over the whole input; -1 tolerates all.
    :param output_action: ``append_row`` (the rows ``run()`` returns go to one file) or ``summary_only``.
    :param compute_target: the compute target (object or name) whose workers run the mini-batches.
    :param node_count: nodes; at most ``node_count * process_count_per_node`` mini-batches run at once.
    :param process_count_per_node: processes per node (default: the number of cores of the machine that
        builds the DAG, as Azure ML's default for a CPU node).
    :param mini_batch_size: files per mini-batch (FileDataset, default 10) or bytes (TabularDataset, default 1MB).
    :param run_invocation_timeout: seconds one ``run()`` call may take (default 60).
    :param run_max_try: tries of a failed or timed out mini-batch (default 3).
    :param append_row_file_name: the ``append_row`` file (default ``parallel_run_step.txt``).
    :param allowed_failed_count: failed mini-batches tolerated; -1 tolerates all.
    :param allowed_failed_percent: failed mini-batches tolerated, in percent of all of them.
    :param partition_keys: one mini-batch per distinct value of these partition keys (instead of mini_batch_size).
    :param environment_variables: variables set for the entry script.
    """

    def __init__(
        self,
        environment: Environment,
        entry_script: str,
        error_threshold: int,
        output_action: str,
        compute_target: Any,
        node_count: int | PipelineParameter,
        process_count_per_node: int | PipelineParameter | None = None,
        mini_batch_size: int | str | PipelineParameter | None = None,
        source_directory: str | None = None,
        description: str | None = None,
        logging_level: str | PipelineParameter = "INFO",
        run_invocation_timeout: int | PipelineParameter = 60,
        run_max_try: int | PipelineParameter = 3,
        append_row_file_name: str | None = None,
        allowed_failed_count: int | None = None,
        allowed_failed_percent: float | None = None,
        partition_keys: list[str] | PipelineParameter | None = None,
        environment_variables: dict[str, str] | None = None,
    ) -> None:
        self.environment = environment
        self.entry_script = entry_script.strip() if isinstance(entry_script, str) else entry_script
        self.error_threshold = error_threshold
        self.output_action = output_action
        self.compute_target = compute_target
        self.node_count = node_count
        self.process_count_per_node = process_count_per_node
        self.mini_batch_size = mini_batch_size
        self.source_directory = source_directory.strip() if isinstance(source_directory, str) else source_directory
        self.description = description
        self.logging_level = "INFO" if logging_level is None else logging_level
        self.run_invocation_timeout = 60 if run_invocation_timeout is None else run_invocation_timeout
        self.run_max_try = 3 if run_max_try is None else run_max_try
        self.append_row_file_name = append_row_file_name
        self.allowed_failed_count = allowed_failed_count
        self.allowed_failed_percent = allowed_failed_percent
        self.partition_keys = partition_keys
        self.environment_variables = dict(environment_variables or {})
        self._check()
        if isinstance(self.mini_batch_size, str):
            self.mini_batch_size = mini_batch_size_value(self.mini_batch_size)

    def _check(self) -> None:
        """Azure ML's checks, with its messages, in its order."""
        if self.environment is None:
            raise ValueError("Parameter environment is required. It should be instance of azureml.core.Environment.")
        if not isinstance(self.environment, Environment):
            raise ValueError(
                "Parameter environment must be an instance of azureml.core.Environment."
                f" The actual value is {self.environment}."
            )
        if not isinstance(self.output_action, str) or self.output_action.lower() not in OUTPUT_ACTIONS:
            raise ValueError("Parameter output_action must be summary_only or append_row.")
        _check_count("error_threshold", self.error_threshold)
        if self.allowed_failed_count is not None:
            _check_count("allowed_failed_count", self.allowed_failed_count)
        if self.allowed_failed_percent is not None:
            if not isinstance(self.allowed_failed_percent, int | float) or isinstance(
                self.allowed_failed_percent, bool
            ):
                raise ValueError(f"allowed_failed_percent '{self.allowed_failed_percent}' is not an int or float.")
            if not 0 <= self.allowed_failed_percent <= 100:
                raise ValueError(f"allowed_failed_percent '{self.allowed_failed_percent}' is not between 0 and 100.")
        if self.mini_batch_size is not None and self.partition_keys is not None:
            raise ValueError(
                "Parameters mini_batch_size and partition_keys are mutually exclusive, "
                "because they specify different ways to partition the input datasets into mini-batches."
            )
        size = self.mini_batch_size
        if (size is not None and not isinstance(size, PipelineParameter | int | str)) or isinstance(size, bool):
            raise ValueError("Parameter mini_batch_size must be of type int or str.")
        if self.partition_keys is not None:
            _check_partition_keys(self.partition_keys)
        if isinstance(self.process_count_per_node, int) and self.process_count_per_node < 1:
            raise ValueError("Parameter process_count_per_node must be an integer greater than 0.")
        max_nodes = getattr(self.compute_target, "max_nodes", None)
        nodes = self.node_count
        if isinstance(max_nodes, int) and isinstance(nodes, int) and not 0 < nodes <= max_nodes:
            raise ValueError(f"node_count '{nodes}' is not between 1 and max_nodes {max_nodes}.")
        if isinstance(self.run_invocation_timeout, int | float) and self.run_invocation_timeout <= 0:
            raise ValueError("Parameter run_invocation_timeout must be an integer greater than 0.")
        if isinstance(self.run_max_try, int) and self.run_max_try <= 0:
            raise ValueError("Parameter run_max_try must be an integer greater than 0.")
        name = self.append_row_file_name
        if self.output_action.lower() == "append_row" and name is not None and _FILE_NAME_FORBIDDEN.search(name):
            raise ValueError("Parameter append_row_file_name must be a valid UNIX file name.")

    @property
    def row_file_name(self) -> str:
        """The ``append_row`` file's name."""
        return self.append_row_file_name or DEFAULT_APPEND_ROW_FILE_NAME

    def fields(self) -> dict[str, Any]:
        """The constructor's arguments, by name: what the YAML definition and ``save_to_yaml`` write."""
        return {
            "environment": self.environment,
            "entry_script": self.entry_script,
            "error_threshold": self.error_threshold,
            "output_action": self.output_action,
            "compute_target": self.compute_target,
            "node_count": self.node_count,
            "process_count_per_node": self.process_count_per_node,
            "mini_batch_size": self.mini_batch_size,
            "source_directory": self.source_directory,
            "description": self.description,
            "logging_level": self.logging_level,
            "run_invocation_timeout": self.run_invocation_timeout,
            "run_max_try": self.run_max_try,
            "append_row_file_name": self.append_row_file_name,
            "allowed_failed_count": self.allowed_failed_count,
            "allowed_failed_percent": self.allowed_failed_percent,
            "partition_keys": self.partition_keys,
            "environment_variables": self.environment_variables or None,
        }

    def save_to_yaml(self, path: str) -> None:
        """Write the configuration to a YAML file (``load_yaml`` reads it back); parameters keep their defaults."""
        from amlflow.factory.runconfig_spec import environment_spec

        data: dict[str, Any] = {}
        for key, value in self.fields().items():
            if isinstance(value, PipelineParameter):
                value = value.default_value
            if key == "environment":
                value = environment_spec(value)
            elif key == "compute_target" and not isinstance(value, str | type(None)):
                value = value.name
            if value is not None:
                data[key] = value
        with open(path, "w") as handle:
            yaml.safe_dump(data, handle, sort_keys=False)

    @staticmethod
    def load_yaml(workspace: Any, path: str) -> ParallelRunConfig:
        """The configuration ``save_to_yaml`` wrote; a compute target name is looked up in ``workspace``."""
        from amlflow.factory.runconfig_spec import environment_from_spec

        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        data["environment"] = environment_from_spec(data.get("environment") or {})
        target = data.get("compute_target")
        if isinstance(target, str) and workspace is not None and target in workspace.compute_targets:
            data["compute_target"] = workspace.compute_targets[target]
        return ParallelRunConfig(**data)


def mini_batch_size_value(text: str) -> int:
    """``"1024"``, ``"1KB"``, ``"10MB"``, ``"1GB"`` as a number (of files, or bytes), by Azure ML's rule."""
    if not _SIZE.match(text):
        raise ValueError(r"Parameter mini_batch_size must follow regex rule ^\d+([kKmMgG][bB])*$.")
    if text.isdigit():
        return int(text)
    return int(text[:-2]) * _UNITS[text[-2:].lower()]


def _check_count(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise ValueError(f"{name} '{value}' is not an int value greater than or equal to -1.")


def _check_partition_keys(keys: Any) -> None:
    if not isinstance(keys, PipelineParameter):
        if not isinstance(keys, list):
            raise ValueError("Parameter partition_keys must be of type list.")
        for key in keys:
            if not isinstance(key, str):
                raise ValueError(f"Element {key} in partition_keys is not a str.")
        return
    try:
        loaded = json.loads(keys.default_value)
    except (TypeError, json.JSONDecodeError):
        raise ValueError(
            "default_value of PipelineParameter partition_keys must be json dump result of a list of str, "
            "try json.loads the value to validate."
        ) from None
    if not isinstance(loaded, list):
        raise ValueError("default_value of PipelineParameter partition_keys must be json dump result of a list of str.")
    for key in loaded:
        if not isinstance(key, str):
            raise ValueError(f"Element {key} in default_value of PipelineParameter partition_keys is not a str.")
