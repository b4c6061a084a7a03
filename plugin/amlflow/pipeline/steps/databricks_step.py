"""``DatabricksStep``: a notebook, Python script or JAR run as one Databricks job run.

Azure ML's parameters, defaults and rules (``azureml.pipeline.steps.DatabricksStep``). What runs is one of
``notebook_path`` (a workspace notebook), ``python_script_path`` (a script already on DBFS),
``python_script_name`` (a script in ``source_directory``, uploaded to DBFS when the step runs) or
``main_class_name`` (a class in ``jar_libraries``). Inputs and outputs reach the job as URIs the cluster
can read: a notebook gets one widget per input and output, named after it; a script or JAR gets
``-<name> <uri>`` pairs after its own parameters, as in Azure ML.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from amlflow.core.databricks import LIBRARY_PARAMETERS, library_to_api
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core.builder import InputPortBinding, PipelineData, PipelineStep, input_data

log = logging.getLogger(__name__)

#: Azure ML's defaults for a new job cluster.
DEFAULT_SPARK_VERSION = "10.4.x-scala2.12"
DEFAULT_NODE_TYPE = "Standard_D3_v2"
DEFAULT_SPARK_ENV_VARIABLES = {"PYSPARK_PYTHON": "/databricks/python3/bin/python3"}

#: what runs: exactly one of these
ENTRY_POINTS = ("notebook_path", "python_script_path", "python_script_name", "main_class_name")
#: parameters that describe a new job cluster (not allowed with existing_cluster_id)
NEW_CLUSTER_FIELDS = (
    "spark_version",
    "node_type",
    "instance_pool_id",
    "num_workers",
    "min_workers",
    "max_workers",
    "spark_env_variables",
    "spark_conf",
    "init_scripts",
    "cluster_log_dbfs_path",
)


class DatabricksStep(PipelineStep):
    """Runs a notebook, Python script or JAR on an attached Databricks workspace (``compute_target``)."""

    kind = "DatabricksStep"

    def __init__(
        self,
        name: str,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        existing_cluster_id: str | None = None,
        spark_version: str | None = None,
        node_type: str | None = None,
        instance_pool_id: str | None = None,
        num_workers: int | None = None,
        min_workers: int | None = None,
        max_workers: int | None = None,
        spark_env_variables: dict[str, str] | None = None,
        spark_conf: dict[str, str] | None = None,
        init_scripts: list[str] | None = None,
        cluster_log_dbfs_path: str | None = None,
        notebook_path: str | None = None,
        notebook_params: dict[str, Any] | None = None,
        python_script_path: str | None = None,
        python_script_params: list[Any] | None = None,
        main_class_name: str | None = None,
        jar_params: list[Any] | None = None,
        python_script_name: str | None = None,
        source_directory: str | None = None,
        hash_paths: list[str] | None = None,
        run_name: str | None = None,
        timeout_seconds: int | None = None,
        runconfig: Any = None,
        maven_libraries: list[Any] | None = None,
        pypi_libraries: list[Any] | None = None,
        egg_libraries: list[Any] | None = None,
        jar_libraries: list[Any] | None = None,
        rcran_libraries: list[Any] | None = None,
        compute_target: Any = None,
        allow_reuse: bool = True,
        version: str | None = None,
        permit_cluster_restart: bool | None = None,
        whl_libraries: list[Any] | None = None,
    ) -> None:
        _raise_as_azure_ml(locals())
        super().__init__(name, inputs, outputs)
        self.existing_cluster_id = existing_cluster_id
        self.spark_version = spark_version
        self.node_type = node_type
        self.instance_pool_id = instance_pool_id
        self.num_workers = num_workers
        self.min_workers = min_workers
        self.max_workers = max_workers
        self.spark_env_variables = spark_env_variables
        self.spark_conf = spark_conf
        self.init_scripts = init_scripts
        self.cluster_log_dbfs_path = cluster_log_dbfs_path
        self.notebook_path = notebook_path
        self.notebook_params = notebook_params
        self.python_script_path = python_script_path
        # Azure ML's own sample passes sets: kept in a stable order so the DAG does not change per parse.
        self.python_script_params = _ordered(python_script_params)
        self.main_class_name = main_class_name
        self.jar_params = _ordered(jar_params)
        self.python_script_name = python_script_name
        self._source_directory = source_directory
        self.hash_paths = hash_paths
        self.run_name = run_name
        self.timeout_seconds = timeout_seconds
        self.runconfig = runconfig
        self.libraries = {
            "maven_libraries": maven_libraries,
            "pypi_libraries": pypi_libraries,
            "egg_libraries": egg_libraries,
            "jar_libraries": jar_libraries,
            "whl_libraries": whl_libraries,
            "rcran_libraries": rcran_libraries,
        }
        # A bare name means a Databricks workspace of that name (its Airflow connection), not a cluster.
        if isinstance(compute_target, str):
            compute_target = (compute_target, "Databricks")
        self.compute_target = compute_target
        self.allow_reuse = allow_reuse
        self.version = version
        self.permit_cluster_restart = permit_cluster_restart
        if init_scripts:
            log.warning(
                "DatabricksStep %r: init_scripts is deprecated; Databricks stopped running DBFS init scripts "
                "on 2023-12-01 (use workspace files or volumes)",
                name,
            )

    @property
    def constructor_arguments(self) -> dict[str, Any]:
        """The base arguments, with set-valued params as the step's stable ordered lists (YAML has no sets)."""
        # A YAML definition has no sets: it repeats the sample's set params in the step's stable order.
        arguments = super().constructor_arguments
        for field in ("python_script_params", "jar_params"):
            if isinstance(arguments.get(field), set | frozenset):
                arguments[field] = getattr(self, field)
        return arguments

    # -- what the pipeline asks of a step ------------------------------------------------------------
    def parameters(self) -> list[Any]:
        """The PipelineParameters among the step's params of every kind."""
        from amlflow.pipeline.core.graph import PipelineParameter

        return [v for v in self._param_values() if isinstance(v, PipelineParameter)]

    def _param_values(self) -> list[Any]:
        values = list(self.notebook_params.values()) if isinstance(self.notebook_params, dict) else []
        for params in (self.python_script_params, self.jar_params):
            values += params if isinstance(params, list) else []
        return values

    def command_line(self) -> list[Any]:
        """``python_script_params`` or ``jar_params`` as Azure ML hands them to the script or JAR: each
        PipelineParameter becomes two values, ``--<NAME>`` (its name in capitals) and then its value."""
        from amlflow.pipeline.core.graph import PipelineParameter

        params = self.jar_params if self.entry_point() == "main_class_name" else self.python_script_params
        values: list[Any] = []
        for value in params or []:
            if isinstance(value, PipelineParameter):
                values.append(f"--{value.name.upper()}")
            values.append(value)
        return values

    def source_directory(self, default: str | None = None) -> str | None:
        """The absolute source directory of ``python_script_name``, relative ones taken from the declaring file."""
        chosen = self._source_directory or default
        if chosen is None:
            return None
        base = os.path.dirname(self._source_file) if self._source_file else os.getcwd()
        return os.path.normpath(os.path.join(base, os.path.expanduser(chosen)))

    def entry_point(self) -> str:
        """Which of ``ENTRY_POINTS`` this step runs (valid steps have exactly one)."""
        return next(field for field in ENTRY_POINTS if getattr(self, field) is not None)

    def entry_spec(self, spec: Callable[[Any], Any], default_source_directory: str | None) -> dict[str, Any]:
        """What runs, for ``DatabricksStepOperator(entry=...)``: ``kind`` (notebook, jar, python, python_upload) and
        its Jobs API fields, each parameter given as ``spec`` makes it (data as its port, parameters as Jinja).
        """
        kind = self.entry_point()
        if kind == "notebook_path":
            params = self.notebook_params or {}
            return {
                "kind": "notebook",
                "notebook_path": self.notebook_path,
                "base_parameters": {key: spec(value) for key, value in params.items()},
            }
        parameters = list(map(spec, self.command_line()))
        if kind == "main_class_name":
            return {"kind": "jar", "main_class_name": self.main_class_name, "parameters": parameters}
        if kind == "python_script_name":
            return {
                "kind": "python_upload",
                "script_name": self.python_script_name,
                "source_directory": self.source_directory(default_source_directory),
                "parameters": parameters,
            }
        return {"kind": "python", "python_file": self.python_script_path, "parameters": parameters}

    def library_specs(self) -> list[dict[str, Any]]:
        """Every library as a Jobs API ``libraries`` entry."""
        return [
            library_to_api(LIBRARY_PARAMETERS[param], item)
            for param, items in self.libraries.items()
            for item in items or []
        ]

    def cluster_spec(self) -> dict[str, Any]:
        """``{"existing_cluster_id": ...}`` or ``{"new_cluster": ...}`` with Azure ML's defaults filled in."""
        if self.existing_cluster_id is not None:
            return {"existing_cluster_id": self.existing_cluster_id}
        cluster: dict[str, Any] = {"spark_version": self.spark_version or DEFAULT_SPARK_VERSION}
        if self.instance_pool_id is not None:
            cluster["instance_pool_id"] = self.instance_pool_id
        else:
            cluster["node_type_id"] = self.node_type or DEFAULT_NODE_TYPE
        if self.num_workers is not None:
            cluster["num_workers"] = self.num_workers
        else:
            cluster["autoscale"] = {"min_workers": self.min_workers, "max_workers": self.max_workers}
        cluster["spark_env_vars"] = dict(
            self.spark_env_variables if self.spark_env_variables is not None else DEFAULT_SPARK_ENV_VARIABLES
        )
        if self.spark_conf:
            cluster["spark_conf"] = dict(self.spark_conf)
        if self.init_scripts:
            cluster["init_scripts"] = [{"dbfs": {"destination": path}} for path in self.init_scripts]
        if self.cluster_log_dbfs_path:
            cluster["cluster_log_conf"] = {"dbfs": {"destination": self.cluster_log_dbfs_path}}
        return {"new_cluster": cluster}

    # -- Azure ML's rules --------------------------------------------------------------------------
    def validate_step(self, pipeline: Any) -> list[tuple[str, str]]:
        """The compute, entry point, cluster, libraries, data and timeout; a runconfig is refused."""
        errors: list[tuple[str, str]] = []
        errors += self._validate_compute(pipeline)
        errors += self._validate_entry_point(pipeline)
        errors += self._validate_cluster()
        errors += self._validate_libraries()
        errors += self._validate_data()
        if self.timeout_seconds is not None and self.timeout_seconds < 0:
            errors.append(("timeout_seconds", f"must be 0 (no timeout) or more, got {self.timeout_seconds}"))
        if self.runconfig is not None:
            errors.append(
                (
                    "runconfig",
                    "amlflow does not read a runconfig for DatabricksStep: give the cluster and libraries "
                    "as the step's parameters",
                )
            )
        return errors

    def _validate_compute(self, pipeline: Any) -> list[tuple[str, str]]:
        from amlflow.core.compute import DatabricksCompute, resolve_compute

        target = resolve_compute(pipeline.workspace, self.compute_target)
        if not isinstance(target, DatabricksCompute):
            return [("compute_target", f"{target!r} is not a DatabricksCompute")]
        return []

    def _validate_entry_point(self, pipeline: Any) -> list[tuple[str, str]]:
        field = self.entry_point()  # exactly one, a string: checked when the step was made
        value = getattr(self, field)
        if not value:
            return [(field, f"must be a non-empty string, got {value!r}")]
        errors: list[tuple[str, str]] = []
        for params_field, belongs_to in (
            ("notebook_params", ("notebook_path",)),
            ("python_script_params", ("python_script_path", "python_script_name")),
            ("jar_params", ("main_class_name",)),
        ):
            if getattr(self, params_field) and field not in belongs_to:
                errors.append((params_field, f"only applies with {' or '.join(belongs_to)}, not {field}"))
        if self.notebook_params is not None and not isinstance(self.notebook_params, dict):
            errors.append(("notebook_params", f"must be a dict, got {type(self.notebook_params).__name__}"))
        for params_field in ("python_script_params", "jar_params"):
            params = getattr(self, params_field)
            if params is not None and not isinstance(params, list):
                errors.append((params_field, f"must be a list, got {type(params).__name__}"))
        if field == "python_script_name":
            folder = self.source_directory(pipeline.default_source_directory)
            if not os.path.isdir(folder):
                errors.append(("source_directory", f"folder not found at {folder}"))
            elif not os.path.isfile(os.path.join(folder, value)):
                errors.append(("python_script_name", f"script not found at {os.path.join(folder, value)}"))
        if field == "main_class_name" and not self.libraries["jar_libraries"]:
            errors.append(("jar_libraries", "main_class_name needs the JAR that holds it in jar_libraries"))
        return errors

    def _validate_cluster(self) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        if self.existing_cluster_id is not None:
            extra = [f for f in NEW_CLUSTER_FIELDS if getattr(self, f) is not None]
            if extra:
                errors.append(
                    ("existing_cluster_id", f"runs on an existing cluster; {', '.join(extra)} describe a new one")
                )
            return errors
        for field in ("num_workers", "min_workers", "max_workers"):
            value = getattr(self, field)
            if value is not None and value < 0:
                errors.append((field, f"must be a non-negative integer, got {value!r}"))
        if (
            isinstance(self.min_workers, int)
            and isinstance(self.max_workers, int)
            and self.min_workers > self.max_workers
        ):
            errors.append(("min_workers", f"{self.min_workers} is more than max_workers ({self.max_workers})"))
        for field in ("spark_env_variables", "spark_conf"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, dict):
                errors.append((field, f"must be a dict, got {type(value).__name__}"))
        return errors

    def _validate_libraries(self) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        for param, items in self.libraries.items():
            if items is not None and not isinstance(items, list | tuple):
                errors.append((param, f"must be a list, got {type(items).__name__}"))
                continue
            for item in items or []:
                try:
                    library_to_api(LIBRARY_PARAMETERS[param], item)
                except TypeError as error:
                    errors.append((param, str(error)))
        return errors

    def _validate_data(self) -> list[tuple[str, str]]:
        """Data in the params must be an input or output of the step, as Azure ML requires for arguments."""
        errors: list[tuple[str, str]] = []
        inputs = {id(i) for i in self._inputs} | {id(input_data(i)) for i in self._inputs}
        outputs = {id(o) for o in self._outputs}
        for field in ("notebook_params", "python_script_params", "jar_params"):
            value = getattr(self, field)
            values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
            for item in values:
                if isinstance(item, DataReference | InputPortBinding) and id(item) not in inputs:
                    errors.append((field, f"{item!r} is used here but is not in inputs"))
                elif isinstance(item, PipelineData) and id(item) not in inputs | outputs:
                    errors.append((field, f"PipelineData {item.name!r} is used here but is not in inputs or outputs"))
        return errors


def _raise_as_azure_ml(arguments: dict[str, Any]) -> None:
    """Azure ML's checks of a DatabricksStep's arguments at construction: its ValueError, at the same moment.

    (The rules only amlflow has are reported by ``Pipeline.validate()``, with the field they are about.)
    """
    given = {key: value for key, value in arguments.items() if value is not None}
    if "runconfig" in given and any(f"{kind}_libraries" in given for kind in ("maven", "pypi", "egg", "jar", "rcran")):
        raise ValueError("Either pass runconfig or each library type as a separate parameter")
    if not isinstance(arguments["name"], str):
        raise ValueError("name is required" if arguments["name"] is None else "name must be a string")
    if "existing_cluster_id" in given:
        if not isinstance(given["existing_cluster_id"], str):
            raise ValueError("existing_cluster_id must be a string")
    else:
        _check_new_cluster(given)
    entry_points = [field for field in ENTRY_POINTS if field in given]
    for field in entry_points:
        if not isinstance(given[field], str):
            raise ValueError(f"{field} must be a string")
    if len(entry_points) != 1:
        raise ValueError(
            "Exactly one of notebook_path, python_script_path, python_script_name or main_class_name is required"
        )
    if entry_points == ["python_script_name"] and "source_directory" not in given:
        raise ValueError("If python_script_name is specified then source_directory must be too")
    if "compute_target" not in given:
        raise ValueError("compute_target is required")
    if "timeout_seconds" in given and (type(given["timeout_seconds"]) is not int):
        raise ValueError("timeout_seconds must be an int")
    if "run_name" in given and not isinstance(given["run_name"], str):
        raise ValueError("run_name must be a string")


def _check_new_cluster(given: dict[str, Any]) -> None:
    if not isinstance(given.get("spark_version", ""), str):
        raise ValueError("spark_version must be a string")
    if not isinstance(given.get("node_type", ""), str):
        raise ValueError("node_type must be a string")
    if "node_type" in given and "instance_pool_id" in given:
        raise ValueError("Exactly one of node_type or instance_pool_id can be specified")
    if not isinstance(given.get("instance_pool_id", ""), str):
        raise ValueError("instance_pool_id must be a string")
    autoscale = "min_workers" in given and "max_workers" in given
    if "num_workers" not in given and not autoscale:
        raise ValueError("one of num_workers or min_workers and max_workers is required")
    if "num_workers" in given and ("min_workers" in given or "max_workers" in given):
        raise ValueError("exactly one of num_workers or min_workers and max_workers is required")
    for field in ("num_workers", "min_workers", "max_workers"):
        if field in given and type(given[field]) is not int:
            raise ValueError(f"{field} must be an int")
    if "permit_cluster_restart" in given:
        raise ValueError("existing_cluster_id is not specified, you cannot set permit_cluster_restart")


def _ordered(values: Any) -> list[Any] | None:
    if values is None:
        return None
    if isinstance(values, set | frozenset):
        return sorted(values, key=str)
    return list(values) if isinstance(values, list | tuple) else values
