"""A step's data wiring as plain, JSON-able operator arguments.

Operators receive specs, never definition objects: a spec renders in the UI, serializes with the DAG,
and says exactly what the task will read and write. Parameter values are Jinja (``{{ params.x }}``), so
Airflow renders each run's value and shows it under "Rendered Template".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amlflow.data.data_reference import DataReference
from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.data.dataset_values import dataset_value
from amlflow.data.sql_data_reference import SqlDataReference
from amlflow.pipeline.core.builder import InputPortBinding, PipelineData, PipelineStep, input_data, input_port_name
from amlflow.pipeline.core.graph import PipelineParameter

#: the inputs an argument matches by port name (see ``data_value_spec``)
_NAMED_INPUTS = (DataReference, InputPortBinding, DatasetConsumptionConfig)


def parameter_template(param: PipelineParameter) -> str:
    """The Jinja template that renders the run's value of a PipelineParameter."""
    return "{{ params[" + repr(param.name) + "] }}"


def value_spec(value: Any) -> str:
    """A literal or a PipelineParameter as the string the script will see."""
    if isinstance(value, PipelineParameter):
        return parameter_template(value)
    return str(value)


def input_specs(step: PipelineStep) -> list[dict[str, Any]]:
    """The specs the operator resolves the step's inputs from, one per input port, in port order."""
    specs = []
    for item, port in zip(step.inputs, step.input_names(), strict=True):
        data = input_data(item)
        binding = item if isinstance(item, InputPortBinding) else None
        if isinstance(data, DatasetConsumptionConfig):
            specs.append(dataset_input_spec(port, data))
        elif isinstance(data, SqlDataReference):
            sql = data.query()
            specs.append({"name": port, "kind": "SqlDataReference", "datastore": data.datastore.name, "sql": sql})
        elif isinstance(data, DataReference):
            specs.append(
                {
                    "name": port,
                    "kind": "DataReference",
                    "datastore": data.datastore.name,
                    "path": data.path_on_datastore or "",
                    "mode": binding.bind_mode if binding else data.mode,
                    "path_on_compute": (binding.path_on_compute if binding else None) or data.path_on_compute,
                    "overwrite": bool(data.overwrite),
                }
            )
        else:
            producer = data._producers[0]
            specs.append(
                {
                    "name": port,
                    "kind": "PipelineData",
                    "task_id": producer.name,
                    "output": data.output_name,
                    "mode": binding.bind_mode if binding else "mount",
                    "path_on_compute": binding.path_on_compute if binding else None,
                }
            )
    return specs


def dataset_input_spec(port: str, consumption: DatasetConsumptionConfig) -> dict[str, Any]:
    """A dataset input: the dataset a run reads unless it is given another through ``parameter``."""
    parameter = consumption.parameter
    return {
        "name": port,
        "kind": "Dataset",
        "dataset": dataset_value(consumption.default_dataset),
        "parameter": parameter.name if parameter is not None else None,
        "mode": consumption.mode,
        "path_on_compute": consumption.path_on_compute,
    }


def output_specs(step: PipelineStep, default_datastore: str | None) -> list[dict[str, Any]]:
    """The specs of the step's outputs; an output naming no datastore gets ``default_datastore``."""
    return [output_spec(data, default_datastore) for data in step.outputs]


def output_spec(data: PipelineData, default_datastore: str | None) -> dict[str, Any]:
    """An output: where it is committed and how the script writes it (an output dataset adds where and as what)."""
    spec = {
        "name": data.output_name,
        "datastore": data.datastore.name if data.datastore is not None else default_datastore,
        "mode": data._output_mode,
        "path_on_compute": data._output_path_on_compute,
    }
    dataset = data._dataset_output
    if dataset is not None:
        spec.update(destination=dataset.path_template, register=dataset.registration)
        if data._output_mode == "upload":
            spec["overwrite"] = bool(data._output_overwrite)
    return spec


def data_value_spec(step: PipelineStep) -> Callable[[Any], Any]:
    """A function giving one argument-like value's spec: data as ``{"input": port}`` / ``{"output": port}``,
    parameters as Jinja, anything else as its string."""
    # A binding or reference matches the input of the same port name (users often write ``data.as_download()``
    # twice); a PipelineData matches by identity, as it may be an input or an output.
    renamed = dict(zip((input_port_name(i) for i in step.inputs), step.input_names(), strict=True))
    in_data = {id(input_data(i)): port for i, port in zip(step.inputs, step.input_names(), strict=True)}
    out_ports = {id(o): o.output_name for o in step.outputs}

    def spec(arg: Any) -> Any:
        if isinstance(arg, _NAMED_INPUTS) and input_port_name(arg) in renamed:
            return {"input": renamed[input_port_name(arg)]}
        if isinstance(arg, PipelineData) and id(arg) in in_data:
            return {"input": in_data[id(arg)]}
        if isinstance(arg, PipelineData):
            return {"output": out_ports[id(arg)]}
        return value_spec(arg)

    return spec


def argument_specs(step: PipelineStep) -> list[Any]:
    """``arguments`` with data as ``{"input": port}`` / ``{"output": port}`` and parameters as Jinja."""
    spec = data_value_spec(step)
    return [spec(arg) for arg in step.arguments]
