"""Steps, intermediate data and sequences: the parts a pipeline graph is made of."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from amlflow.data.data_reference import DataReference
from amlflow.data.datapath import datapath_input_reference, is_datapath_input
from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.data.sql_data_reference import SqlDataReference
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core._source import caller_file
from amlflow.storage.names import datastore_name_problem

if TYPE_CHECKING:
    from amlflow.core.datastore import Datastore

_WORD = re.compile(r"^\w+$")


def check_word(kind: str, name: Any) -> None:
    """Raise ``UserErrorException`` unless ``name`` is letters, digits and underscores (``kind`` says what it names)."""
    if not isinstance(name, str) or not _WORD.match(name):
        raise UserErrorException(f"{kind} name {name!r} is invalid: use letters, digits and underscores only")


class PipelineData:
    """Data one step writes and later steps read. Its files live at a run-scoped datastore path."""

    def __init__(
        self,
        name: str,
        datastore: Datastore | None = None,
        output_name: str | None = None,
        output_mode: str = "mount",
        output_path_on_compute: str | None = None,
        output_overwrite: bool | None = None,
        data_type: str | None = None,
        is_directory: bool | None = None,
        pipeline_output_name: str | None = None,
        training_output: Any = None,
    ) -> None:
        check_word("PipelineData", name)
        check_word(f"PipelineData {name!r}: output", output_name or name)
        if output_mode not in ("mount", "upload"):
            raise UserErrorException(f"PipelineData {name!r}: output_mode {output_mode!r} is not 'mount' or 'upload'")
        self._name = name
        self._datastore = datastore
        self._output_name = output_name or name
        self._output_mode = output_mode
        self._output_path_on_compute = output_path_on_compute
        self._output_overwrite = output_overwrite
        self._data_type = data_type
        self._is_directory = is_directory
        self._pipeline_output_name = pipeline_output_name
        self._producers: list[PipelineStep] = []
        #: the OutputFileDatasetConfig this PipelineData stands for in a step, if any
        self._dataset_output: Any = None

    @property
    def name(self) -> str:
        """The data's name."""
        return self._name

    @property
    def datastore(self) -> Datastore | None:
        """The datastore the data is written to, or None for the pipeline's default."""
        return self._datastore

    @property
    def data_type(self) -> str | None:
        """The ``data_type`` given (kept for the YAML form; nothing else reads it), or None."""
        return self._data_type

    @property
    def output_name(self) -> str:
        """The name of the producing step's output port."""
        return self._output_name

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self._name}"

    def __repr__(self) -> str:
        return f"PipelineData(name={self._name!r})"

    def get_env_variable_name(self) -> str:
        """The environment variable a script reads the data's path from (``$AZUREML_DATAREFERENCE_<name>``)."""
        return str(self)

    def as_input(self, input_name: str) -> InputPortBinding:
        """The data as the step input ``input_name``."""
        return InputPortBinding(input_name, self)

    def as_mount(self, input_name: str | None = None) -> InputPortBinding:
        """The data as a mounted step input (named after the data unless ``input_name``)."""
        return InputPortBinding(input_name or self._name, self, bind_mode="mount")

    def as_download(
        self, input_name: str | None = None, path_on_compute: str | None = None, overwrite: bool | None = None
    ) -> InputPortBinding:
        """The data as a step input downloaded to ``path_on_compute``."""
        return InputPortBinding(input_name or self._name, self, "download", path_on_compute, overwrite)

    def create_input_binding(
        self,
        input_name: str | None = None,
        mode: str | None = None,
        path_on_compute: str | None = None,
        overwrite: bool | None = None,
    ) -> InputPortBinding:
        """The data as a step input, mounted or downloaded (``mode``, default mount)."""
        if mode not in (None, "mount", "download"):
            raise UserErrorException(f"PipelineData {self._name!r}: input mode {mode!r} is not 'mount' or 'download'")
        return InputPortBinding(input_name or self._name, self, mode or "mount", path_on_compute, overwrite)


class InputPortBinding:
    """How a step reads a PipelineData (or DataReference): under which name and mode."""

    def __init__(
        self,
        name: str,
        bind_object: PipelineData | DataReference | None = None,
        bind_mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool | None = None,
        is_resource: bool = False,
        additional_transformations: Any = None,
        **kwargs: Any,
    ) -> None:
        check_word("input", name)
        if bind_mode not in ("mount", "download"):
            raise UserErrorException(f"input {name!r}: bind_mode {bind_mode!r} is not 'mount' or 'download'")
        self.name = name
        self.bind_object = bind_object
        self.bind_mode = bind_mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.name}"


def _recording_arguments(init: Any) -> Any:
    """``init``, keeping the arguments of the outermost constructor call: what a YAML definition repeats."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def recording(self: PipelineStep, *args: Any, **kwargs: Any) -> None:
        if "_constructor_arguments" not in self.__dict__:
            bound = signature.bind(self, *args, **kwargs).arguments
            bound.pop(next(iter(signature.parameters)))  # self
            for name, param in signature.parameters.items():
                if param.kind is inspect.Parameter.VAR_KEYWORD and name in bound:
                    bound.update(bound.pop(name))
            self._constructor_arguments = bound
        init(self, *args, **kwargs)

    return recording


def input_port_name(item: Any) -> str:
    """The input port name of a step input; ``UserErrorException`` for what cannot be an input."""
    if isinstance(item, DataReference):
        return item.data_reference_name
    if isinstance(item, PipelineData | InputPortBinding | DatasetConsumptionConfig):
        return item.name
    if hasattr(item, "as_named_input"):
        raise UserErrorException(
            f"{type(item).__name__} cannot be a step input as it is: use dataset.as_named_input(name) "
            "(or its .as_mount() / .as_download())"
        )
    raise UserErrorException(f"{item!r} cannot be a step input")


def input_data(item: Any) -> PipelineData | DataReference | DatasetConsumptionConfig:
    """The data behind an input: the bound object of a binding, or the item itself."""
    return item.bind_object if isinstance(item, InputPortBinding) else item


def _as_port(item: Any) -> Any:
    """An input, output or argument as the port it stands for: a DataPath input becomes its DataReference,
    an OutputFileDatasetConfig its PipelineData, and reading one (``.as_input()``) a binding of that."""
    from amlflow.data.output_dataset_config import OutputFileDatasetConfig

    if is_datapath_input(item):
        return datapath_input_reference(item)
    if isinstance(item, OutputFileDatasetConfig):
        return item.pipeline_data
    if isinstance(item, DatasetConsumptionConfig) and isinstance(item.dataset, OutputFileDatasetConfig):
        return InputPortBinding(item.name, item.dataset.pipeline_data, item.mode, item.path_on_compute)
    return item


class PipelineStep:
    """A unit of work in a pipeline. Subclasses say what runs; this class holds the data wiring."""

    #: what kind of step this is, for fingerprints and messages
    kind = "PipelineStep"
    #: whether the step's operator reads datasets (``DatasetConsumptionConfig`` inputs)
    accepts_datasets = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_arguments(cls.__dict__["__init__"])  # type: ignore[method-assign]

    @property
    def constructor_arguments(self) -> dict[str, Any]:
        """The arguments the step was made with, by parameter name (only those the caller gave)."""
        return dict(getattr(self, "_constructor_arguments", {}))

    def __init__(
        self,
        name: str,
        inputs: Iterable[Any] | None,
        outputs: Iterable[Any] | None,
        arguments: Iterable[Any] | None = None,
        fix_port_name_collisions: bool = False,
        resource_inputs: Any = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise UserErrorException(f"step name must be a non-empty string, got {name!r}")
        self.name = name
        self._inputs = [_as_port(item) for item in inputs or []]
        self._outputs = [_as_port(item) for item in outputs or []]
        self._arguments = [_as_port(item) for item in arguments or []]
        self._add_dataset_arguments(arguments or [])
        self._fix_port_name_collisions = fix_port_name_collisions
        self._run_after: list[PipelineStep] = []
        self._source_file = caller_file()
        for output in self._outputs:
            if isinstance(output, PipelineData):
                output._producers.append(self)

    def _add_dataset_arguments(self, arguments: Iterable[Any]) -> None:
        """As in Azure ML, a dataset or output dataset passed only in arguments is an input or output all the same."""
        from amlflow.data.output_dataset_config import OutputFileDatasetConfig

        # Only datasets are added by name: an unknown item among the inputs is reported by validate().
        listed = {item.name for item in self._inputs if isinstance(item, DatasetConsumptionConfig)}
        outputs = {id(item) for item in self._outputs}
        for given, port in zip(arguments, self._arguments, strict=True):
            if isinstance(given, DatasetConsumptionConfig) and port.name not in listed:
                self._inputs.append(port)
                listed.add(port.name)
            elif isinstance(given, OutputFileDatasetConfig) and id(port) not in outputs:
                self._outputs.append(port)
                outputs.add(id(port))

    def __repr__(self) -> str:
        ins = ", ".join(self.input_names())
        outs = ", ".join(self.output_names())
        return f"{self.name}: {self.kind}([{ins}]) -> [{outs}]"

    @property
    def inputs(self) -> list[Any]:
        """The step's inputs, as given."""
        return list(self._inputs)

    @property
    def outputs(self) -> list[Any]:
        """The step's outputs, as given."""
        return list(self._outputs)

    @property
    def arguments(self) -> list[Any]:
        """The step's arguments, as given."""
        return list(self._arguments)

    def run_after(self, step: PipelineStep) -> None:
        """Run this step after ``step``, with no data between them."""
        self._run_after.append(step)

    def input_names(self) -> list[str]:
        """The input port names, in input order (``INPUT_``-prefixed where one collides with an output and the step says
        so).
        """
        outputs = set(self.output_names())
        names = []
        for item in self._inputs:
            name = input_port_name(item)
            if self._fix_port_name_collisions and name in outputs:
                name = f"INPUT_{name}"
            names.append(name)
        return names

    def output_names(self) -> list[str]:
        """The output port names, in output order."""
        return [o.output_name if isinstance(o, PipelineData) else str(o) for o in self._outputs]

    def upstream_data(self) -> Iterator[PipelineData]:
        """The PipelineData among the step's inputs: what earlier steps produce for it."""
        for item in self._inputs:
            data = input_data(item)
            if isinstance(data, PipelineData):
                yield data

    def validate_wiring(self) -> list[tuple[str, ...]]:
        """(field, message[, item]) for every data-wiring rule this step breaks (Azure ML's rules); ``item``
        names the port or data of the field the rule is about."""
        errors: list[tuple[str, ...]] = []
        for field, names in (("inputs", self.input_names()), ("outputs", self.output_names())):
            seen = set()
            for name in names:
                if not _WORD.match(name):
                    errors.append((field, f"port name {name!r} is invalid: use letters, digits and underscores", name))
                if name in seen:
                    errors.append((field, f"two {field} are named {name!r}", name))
                seen.add(name)
        for item in self._outputs:
            if not isinstance(item, PipelineData):
                errors.append(("outputs", f"{item!r} is not a PipelineData"))
        for field, items in (("inputs", [input_data(i) for i in self._inputs]), ("outputs", self._outputs)):
            for data in items:
                datastore = getattr(data, "datastore", None)
                problem = datastore_name_problem(datastore.name) if datastore is not None else None
                if problem:
                    errors.append((field, f"datastore {problem}"))
        if not self.accepts_datasets:
            errors.extend(
                (
                    "inputs",
                    f"dataset input {data.name!r}: datasets are inputs of PythonScriptSteps and ParallelRunSteps "
                    "only, for now; give this step a DataReference (or a DataPath parameter) of the dataset's files",
                    data.name,
                )
                for data in (input_data(i) for i in self._inputs)
                if isinstance(data, DatasetConsumptionConfig)
            )
        if self.kind != "DataTransferStep":
            errors.extend(
                ("inputs", f"{data!r}: a SqlDataReference can only be the source of a DataTransferStep")
                for data in (input_data(i) for i in self._inputs)
                if isinstance(data, SqlDataReference)
            )
        # A binding or reference in arguments matches the input of the same port name (users often write
        # ``data.as_download()`` twice); a PipelineData matches by identity, as it may be an input or an output.
        input_ports = {input_port_name(i) for i in self._inputs}
        data_objects = {id(input_data(i)) for i in self._inputs} | {id(o) for o in self._outputs}
        for arg in self._arguments:
            if isinstance(arg, DataReference | InputPortBinding) and input_port_name(arg) not in input_ports:
                errors.append(
                    ("arguments", f"input {input_port_name(arg)!r} appears in arguments but is not in inputs")
                )
            elif isinstance(arg, PipelineData) and id(arg) not in data_objects:
                errors.append(
                    ("arguments", f"PipelineData {arg.name!r} appears in arguments but is not in inputs or outputs")
                )
        return errors

    def validate_step(self, pipeline: Any) -> list[tuple[str, str]]:
        """(field, message) for rules of this kind of step in ``pipeline``; subclasses add theirs."""
        return []

    def parameters(self) -> list[Any]:
        """The PipelineParameters this step uses."""
        from amlflow.pipeline.core.graph import PipelineParameter

        return [a for a in self._arguments if isinstance(a, PipelineParameter)]


class StepSequence:
    """Steps (or lists of steps) that run one after the other, with no data between them."""

    def __init__(self, steps: Iterable[Any] | None = None) -> None:
        self._steps = list(steps or [])

    def __iter__(self) -> Iterator[Any]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)
