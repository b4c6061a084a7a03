"""A YAML pipeline definition -> ``Pipeline`` -> Airflow DAG, every problem reported at its line.

The YAML form mirrors the Python API one to one (README "YAML pipelines"): ``computes``,
``data_references``, ``pipeline_data``, ``parameters`` and ``datasets`` (DatasetConsumptionConfigs)
declare the objects a Python file would create; each step is ``kind`` (a class of
``amlflow.pipeline.steps``) plus that class's constructor arguments, in which ``$data.<name>``,
``$param.<name>``, ``$dataset.<name>``, ``$datastore.<name>`` and ``$compute.<name>`` stand for the
declared objects (and ``$output.<step>`` for the output an earlier
step makes itself, ``step.get_output()``). The ``Pipeline`` is then checked by
``Pipeline.validate()`` and built by the same factory as a Python pipeline.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlflow.core.compute import COMPUTE_KINDS, AmlCompute, ComputeTarget
from amlflow.core.databricks import LIBRARY_PARAMETERS, as_library
from amlflow.core.datastore import Datastore
from amlflow.core.workspace import Workspace
from amlflow.data.data_reference import DataReference
from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.data.dataset_values import dataset_from_value
from amlflow.data.output_dataset_config import OutputFileDatasetConfig
from amlflow.data.sql_data_reference import SqlDataReference
from amlflow.exceptions import AmlflowError, ComputeTargetException, ValidationProblem
from amlflow.factory import yaml_cache
from amlflow.factory.runconfig_spec import environment_from_spec, runconfig_from_spec
from amlflow.factory.yaml_errors import DefinitionError, PipelineDefinitionError
from amlflow.factory.yaml_kinds import step_kinds
from amlflow.factory.yaml_schema import REFERENCE_PATTERN, describe, schema_errors
from amlflow.factory.yaml_source import Path, YamlDocument
from amlflow.pipeline.core._source import dag_file
from amlflow.pipeline.core.builder import InputPortBinding, PipelineData, PipelineStep, input_port_name
from amlflow.pipeline.core.graph import PipelineParameter
from amlflow.pipeline.core.pipeline import Pipeline
from amlflow.pipeline.steps.parallel_run_config import ParallelRunConfig

if TYPE_CHECKING:
    from airflow.sdk import DAG

YAML_SUFFIXES = (".yaml", ".yml")
_REFERENCE = re.compile(REFERENCE_PATTERN)
_BINDING_KEYS = {"data", "name", "mode", "path_on_compute", "overwrite"}


@dataclass
class YamlPipeline:
    """A checked pipeline and how to publish it, read from ``document``."""

    document: YamlDocument
    name: str
    pipeline: Pipeline
    description: str | None
    version: str | None
    published: bool
    continue_on_step_failure: bool
    schedule: str | None
    experiment: str | None = None
    display_name: str | None = None

    def build_dag(self) -> DAG:
        """The DAG, as ``pipeline.publish(...)`` (or ``pipeline.as_dag(...)``) would build it."""
        from amlflow.factory.dag_builder import build_dag

        extra = {"dag_display_name": self.display_name} if self.display_name else {}
        return build_dag(
            self.pipeline,
            self.name,
            description=self.description,
            version=self.version,
            published=self.published,
            experiment=self.experiment,
            schedule=self.schedule,
            **extra,
        )


def pipeline_name(path: str) -> str:
    """A YAML pipeline's DAG id: its file name without the extension."""
    return os.path.splitext(os.path.basename(path))[0]


def read_pipeline(path: str, display: str | None = None) -> YamlPipeline:
    """The pipeline defined at ``path``; raises PipelineDefinitionError listing every problem.

    ``display`` is how messages name the file (default: ``path``).
    """
    document, errors = _checked_document(path, display or path)
    if document is not None:
        with dag_file():  # a definition is read as a DAG file is: nothing is looked up on a deployment
            result = _Builder(document, path).build()
        if isinstance(result, YamlPipeline):
            return result
        errors = result
    raise PipelineDefinitionError(errors)


def _checked_document(path: str, display: str) -> tuple[YamlDocument | None, list[DefinitionError]]:
    """The document if it is YAML that passes the schema (from the cache when its text is known)."""
    text, errors = YamlDocument.read_text(path, display)
    if text is None:
        return None, errors
    cached = yaml_cache.load(text)
    if cached is not None:
        return YamlDocument(display, cached, text), []
    document, errors = YamlDocument.parse(text, display)
    if document is not None and not errors:
        errors = schema_errors(document)
        if not errors:
            yaml_cache.store(text, document.data)
    return (document, []) if document is not None and not errors else (None, errors)


def dag_from_yaml(path: str, display: str | None = None) -> DAG:
    """The DAG of the YAML pipeline at ``path``; raises PipelineDefinitionError (never a half-built DAG)."""
    definition = read_pipeline(path, display)
    try:
        dag = definition.build_dag()
        # Airflow checks a DAG (its schedule, say) only when bagging it, and a failure there would be an
        # import error of the whole loader file: check here, where it is this definition's error.
        dag.validate()
    except Exception as exc:
        raise _whole_file_error(definition, exc) from exc
    return dag


def _whole_file_error(definition: YamlPipeline, exc: Exception) -> PipelineDefinitionError:
    return PipelineDefinitionError([definition.document.error([], "pipeline", f"{type(exc).__name__}: {exc}")])


class _Builder:
    """Creates the objects a YAML document declares, collecting every error instead of stopping."""

    def __init__(self, document: YamlDocument, path: str) -> None:
        self.document = document
        self.spec: dict[str, Any] = document.data
        self.file = os.path.abspath(path)
        self.errors: list[DefinitionError] = []
        self.workspace = Workspace()
        self.data: dict[str, PipelineData | DataReference] = {}
        self.params: dict[str, PipelineParameter] = {}
        self.datasets: dict[str, DatasetConsumptionConfig] = {}
        #: steps built so far, by name: what ``$output.<step>`` can name
        self.steps: dict[str, PipelineStep] = {}

    def fail(self, path: Path, message: str, *, key: bool = False, where: str | None = None) -> None:
        where = where or describe(self.spec, path)
        self.errors.append(self.document.error(path, where, message, key=key))

    def build(self) -> YamlPipeline | list[DefinitionError]:
        spec = self.spec
        name = spec.get("name", pipeline_name(self.file))
        if name != pipeline_name(self.file):
            self.fail(
                ["name"],
                f"{name!r} must equal the file name without extension ({pipeline_name(self.file)!r}): "
                "the loader finds a pipeline by its file name",
            )
        self._schedule()
        self._computes()
        self._data()
        self._output_datasets()
        self._parameters()
        self._datasets()
        steps = self._steps()
        if self.errors:
            return sorted(self.errors)
        default_datastore = spec.get("default_datastore")
        pipeline = Pipeline(
            self.workspace,
            [step for _, step in steps],
            description=spec.get("description"),
            default_datastore=Datastore._named(self.workspace, default_datastore) if default_datastore else None,
            default_source_directory=spec.get("default_source_directory"),
        )
        pipeline.source_file = self.file
        for problem in pipeline.validate():
            self._validation_error(problem, steps)
        if self.errors:
            return sorted(self.errors)
        return YamlPipeline(
            document=self.document,
            name=name,
            pipeline=pipeline,
            description=spec.get("description"),
            version=spec.get("version"),
            published=spec.get("published", "experiment" not in spec),
            continue_on_step_failure=spec.get("continue_on_step_failure", False),
            schedule=spec.get("schedule"),
            experiment=spec.get("experiment"),
            display_name=spec.get("display_name"),
        )

    # -- declarations ------------------------------------------------------------------------------
    def _schedule(self) -> None:
        schedule = self.spec.get("schedule")
        if not schedule:
            return
        from airflow.sdk import DAG

        try:
            DAG(pipeline_name(self.file), schedule=schedule).timetable.validate()
        except Exception as exc:  # Airflow's timetables raise several types; all mean a bad schedule
            self.fail(["schedule"], f"{schedule!r} is not a valid schedule: {exc}")

    def _computes(self) -> None:
        for name, config in (self.spec.get("computes") or {}).items():
            config = dict(config or {})
            kind = config.pop("type", "AmlCompute")
            try:
                declare_compute(self.workspace, name, kind, config)
            except ComputeTargetException as exc:
                self.fail(["computes", name], str(exc))

    def _data(self) -> None:
        for name, config in (self.spec.get("data_references") or {}).items():
            config = dict(config)
            datastore = Datastore._named(self.workspace, config.pop("datastore"))
            sql = set(config) & {"sql_table", "sql_query", "sql_stored_procedure"}
            kind = SqlDataReference if sql else DataReference
            try:
                self.data[name] = kind(datastore=datastore, data_reference_name=name, **config)
            except AmlflowError as exc:
                self.fail(["data_references", name], str(exc))
        for name, config in (self.spec.get("pipeline_data") or {}).items():
            if name in self.data:
                self.fail(["pipeline_data", name], f"{name!r} is also a data reference: $data names must be unique")
                continue
            config = dict(config or {})
            datastore = config.pop("datastore", None)
            try:
                self.data[name] = PipelineData(
                    name, datastore=Datastore._named(self.workspace, datastore) if datastore else None, **config
                )
            except AmlflowError as exc:
                self.fail(["pipeline_data", name], str(exc))

    def _parameters(self) -> None:
        for name, config in (self.spec.get("parameters") or {}).items():
            default, declared = config["default"], config.get("type")
            if declared == "dataset":
                self._dataset_parameter(name, default)
                continue
            if declared == "number" and type(default) is int:
                default = float(default)
            param = PipelineParameter(name, default)
            if declared and param.json_type != declared:
                self.fail(["parameters", name, "default"], f"default {default!r} is not of type {declared}")
            for problem in param.problems():
                self.fail(["parameters", name], problem)
            self.params[name] = param

    def _dataset_parameter(self, name: str, default: Any) -> None:
        try:
            self.params[name] = PipelineParameter(name, dataset_from_value(default))
        except (AmlflowError, KeyError, TypeError) as exc:
            self.fail(["parameters", name, "default"], f"not a dataset: {exc}")

    def _output_datasets(self) -> None:
        for name, config in (self.spec.get("output_datasets") or {}).items():
            if name in self.data:
                self.fail(["output_datasets", name], f"{name!r} is also declared data: $data names must be unique")
                continue
            config = dict(config or {})
            where = config.get("destination")
            destination = (Datastore._named(self.workspace, where["datastore"]), where["path"]) if where else None
            try:
                output = OutputFileDatasetConfig(name, destination, config.get("source"))
                if config.get("mode") == "upload":
                    output.as_upload(overwrite=config.get("overwrite", False))
                if config.get("register_on_complete"):
                    output.register_on_complete(**config["register_on_complete"])
            except AmlflowError as exc:
                self.fail(["output_datasets", name], str(exc))
                continue
            self.data[name] = output

    def _datasets(self) -> None:
        for name, config in (self.spec.get("datasets") or {}).items():
            given = config["dataset"]
            if isinstance(given, str):
                dataset = self._reference(given, ["datasets", name, "dataset"])
                if isinstance(dataset, str):
                    continue  # not declared: _reference said so
                if not isinstance(dataset, PipelineParameter | OutputFileDatasetConfig):
                    self.fail(["datasets", name, "dataset"], f"{given}: not a dataset parameter or output dataset")
                    continue
            else:
                try:
                    dataset = dataset_from_value(given)
                except (AmlflowError, KeyError, TypeError) as exc:
                    self.fail(["datasets", name, "dataset"], f"not a dataset: {exc}")
                    continue
            try:
                self.datasets[name] = DatasetConsumptionConfig(
                    name, dataset, config.get("mode", "direct"), config.get("path_on_compute")
                )
            except AmlflowError as exc:
                self.fail(["datasets", name], str(exc))

    # -- steps -------------------------------------------------------------------------------------
    def _steps(self) -> list[tuple[int, PipelineStep]]:
        kinds = step_kinds()
        built: list[tuple[int, PipelineStep]] = []
        items = self.spec["steps"]
        for index, item in enumerate(items):
            cls = kinds[item["kind"]]
            arguments = {
                key: self._resolve(value, ["steps", index, key])
                for key, value in item.items()
                if key not in ("kind", "run_after")
            }
            if isinstance(arguments.get("runconfig"), dict):
                arguments["runconfig"] = runconfig_from_spec(arguments["runconfig"])
            try:
                if isinstance(arguments.get("parallel_run_config"), dict):
                    arguments["parallel_run_config"] = _parallel_run_config(arguments["parallel_run_config"])
                step = cls(**_with_libraries(arguments))
            except (AmlflowError, ValueError, TypeError) as exc:
                self.fail(["steps", index], f"{item['kind']}: {exc}")
                continue
            # Relative paths (source_directory) are taken from the folder of the file that declares the
            # step; for a YAML pipeline that is the YAML file, not the loader that read it.
            step._source_file = self.file
            built.append((index, step))
            self.steps.setdefault(step.name, step)
        by_name = {step.name: step for _, step in reversed(built)}
        for index, step in built:
            for position, other in enumerate(items[index].get("run_after") or []):
                if other not in by_name:
                    self.fail(["steps", index, "run_after", position], f"no step is named {other!r}")
                else:
                    step.run_after(by_name[other])
        return built

    def _resolve(self, value: Any, path: list[str | int]) -> Any:
        """A YAML value with ``$kind.name`` references (and input bindings) replaced by the objects."""
        if isinstance(value, str) and _REFERENCE.match(value):
            return self._reference(value, path)
        if isinstance(value, list):
            return [self._resolve(v, [*path, i]) for i, v in enumerate(value)]
        if isinstance(value, dict):
            if "data" in value and set(value) <= _BINDING_KEYS and isinstance(value["data"], str):
                return self._binding(value, path)
            return {k: self._resolve(v, [*path, k]) for k, v in value.items()}
        return value

    def _reference(self, value: str, path: list[str | int]) -> Any:
        kind, name = value[1:].split(".", 1)
        if kind == "datastore":
            return Datastore._named(self.workspace, name)
        if kind == "output":
            return self._step_output(value, name, path)
        table: dict[str, Any] = {
            "data": self.data,
            "param": self.params,
            "dataset": self.datasets,
            "compute": self.workspace.compute_targets,
        }[kind]
        if name in table:
            return table[name]
        section = {
            "data": "data_references, pipeline_data or output_datasets",
            "param": "parameters",
            "dataset": "datasets",
            "compute": "computes",
        }[kind]
        known = ", ".join(sorted(table)) or "none"
        self.fail(path, f"{value}: no {kind} named {name!r} is declared under {section} (declared: {known})")
        return value

    def _step_output(self, value: str, name: str, path: list[str | int]) -> Any:
        step = self.steps.get(name)
        if step is None:
            self.fail(path, f"{value}: no earlier step is named {name!r} (a step's output is used after the step)")
            return value
        if not callable(getattr(step, "get_output", None)):
            self.fail(path, f"{value}: a {step.kind} makes no output of its own; declare it under pipeline_data")
            return value
        return step.get_output()

    def _binding(self, value: dict[str, Any], path: list[str | int]) -> Any:
        data = self._reference(value["data"], [*path, "data"])
        if not isinstance(data, PipelineData | DataReference):
            return value
        try:
            return InputPortBinding(
                value.get("name") or input_port_name(data),
                data,
                value.get("mode", "mount"),
                value.get("path_on_compute"),
                value.get("overwrite"),
            )
        except AmlflowError as exc:
            self.fail(path, str(exc))
            return value

    def _validation_error(self, problem: ValidationProblem, steps: list[tuple[int, PipelineStep]]) -> None:
        """Place a ``Pipeline.validate()`` problem at the step, field and item it names."""
        index = next((i for i, step in steps if step.name == problem.step), None)
        if index is None or problem.field is None:
            self.fail([], str(problem), where="pipeline")
            return
        item = self.spec["steps"][index]
        path: list[str | int] = ["steps", index]
        if problem.field in item:
            path.append(problem.field)
            if isinstance(item[problem.field], list) and problem.item is not None:
                path.extend(_item_index(item[problem.field], problem.item))
        self.fail(path, problem.message, where=f"{problem.step}.{problem.field}")


def declare_compute(workspace: Workspace, name: str, kind: str, config: dict[str, Any]) -> ComputeTarget:
    """The compute target a definition declares: created (AmlCompute) or attached, as the Python API does.

    A Databricks workspace (and an ADLA account without ``account_name``) is declared by name only: its
    connection must exist on the deployment (``amlflow computes sync``); a definition never carries a secret.
    """
    if kind == "AmlCompute":
        return ComputeTarget.create(workspace, name, AmlCompute.provisioning_configuration(**config))
    if kind == "DatabricksCompute" or (kind == "AdlaCompute" and not config.get("account_name")):
        # Named only: the target's connection says the rest (an ADLA account from its account_name extra).
        target = COMPUTE_KINDS[kind](workspace, name, None)
        for field, value in config.items():
            setattr(target, field, value)
        workspace._register_compute(target)
        return target
    return ComputeTarget.attach(workspace, name, COMPUTE_KINDS[kind].attach_configuration(**config))


def _parallel_run_config(spec: dict[str, Any]) -> ParallelRunConfig:
    """A ParallelRunStep's ``parallel_run_config`` mapping (references resolved) as the config object."""
    return ParallelRunConfig(**{**spec, "environment": environment_from_spec(spec.get("environment") or {})})


def _with_libraries(arguments: dict[str, Any]) -> dict[str, Any]:
    """A DatabricksStep's library lists as the library objects (JarLibrary...) the Python API passes."""
    libraries = {
        param: [as_library(kind, item) for item in arguments[param]]
        for param, kind in LIBRARY_PARAMETERS.items()
        if isinstance(arguments.get(param), list)
    }
    return {**arguments, **libraries}


def _item_index(items: list[Any], name: str) -> list[int]:
    """The index of the list item that is the data ``name`` (``$data.<name>``), as ``[i]``; ``[]`` if none is."""
    for position, item in enumerate(items):
        text = item.get("data") if isinstance(item, dict) else item
        if text == f"$data.{name}":
            return [position]
    return []
