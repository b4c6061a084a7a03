"""``DataPath`` and ``DataPathComputeBinding``: a path on a datastore, and how a step reads it.

A ``PipelineParameter`` whose default is a ``DataPath`` lets each run read other data: in a step's
``inputs`` and ``arguments`` as ``(parameter, DataPathComputeBinding(mode=...))``, assigned per run by
``submit(pipeline_parameters={name: DataPath(...)})`` or a REST body's ``DataPathAssignments``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    from amlflow.core.datastore import Datastore
    from amlflow.data.data_reference import DataReference

DATAPATH_MODES = ("mount", "download")


class DataPath:
    """A file or folder on a datastore: ``DataPath(datastore, path_on_datastore, name=None)``."""

    def __init__(
        self, datastore: Datastore | None = None, path_on_datastore: str | None = None, name: str | None = None
    ) -> None:
        if datastore is None:
            raise UserErrorException("DataPath: datastore is required")
        self._datastore = datastore
        self._path_on_datastore = path_on_datastore or ""
        # Azure ML's default is "<datastore>_<8 random hex>"; a random name would change the DAG at every
        # parse, so amlflow takes the 8 characters from where the path points.
        digest = hashlib.sha1(f"{datastore.name}/{self._path_on_datastore}".encode()).hexdigest()[:8]
        self._name = name or f"{datastore.name}_{digest}"

    @property
    def datastore(self) -> Datastore:
        """The datastore the path is on."""
        return self._datastore

    @property
    def datastore_name(self) -> str:
        """The name of the datastore the path is on."""
        return self._datastore.name

    @property
    def path_on_datastore(self) -> str:
        """The path on the datastore."""
        return self._path_on_datastore

    @property
    def name(self) -> str:
        """The data path's name."""
        return self._name

    def __repr__(self) -> str:
        return f"DataPath(datastore={self.datastore_name!r}, path_on_datastore={self._path_on_datastore!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataPath) and self.location() == other.location()

    def __hash__(self) -> int:
        return hash(self.location())

    def location(self) -> tuple[str, str]:
        """``(datastore name, path)``: what a run's value of a DataPath parameter is."""
        return self.datastore_name, self._path_on_datastore

    def create_data_reference(
        self, data_reference_name: str | None = None, datapath_compute_binding: DataPathComputeBinding | None = None
    ) -> DataReference:
        """A DataReference to this path, bound to the compute as ``datapath_compute_binding`` says."""
        from amlflow.data.data_reference import DataReference

        return DataReference.create(data_reference_name, self, datapath_compute_binding)


class DataPathComputeBinding:
    """How a step reads a DataPath: ``mode='mount'`` (its path) or ``'download'`` (a copy at ``path_on_compute``)."""

    def __init__(self, mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False) -> None:
        if mode not in DATAPATH_MODES:
            raise UserErrorException(f"DataPathComputeBinding: mode {mode!r} is not one of {', '.join(DATAPATH_MODES)}")
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def __repr__(self) -> str:
        return f"DataPathComputeBinding(mode={self.mode!r}, path_on_compute={self.path_on_compute!r})"


def is_datapath_input(item: Any) -> bool:
    """Whether ``item`` is Azure ML's DataPath input: ``(PipelineParameter, DataPathComputeBinding)``."""
    from amlflow.pipeline.core.graph import PipelineParameter

    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], PipelineParameter)
        and isinstance(item[1], DataPathComputeBinding)
    )


def datapath_input_reference(item: tuple[Any, DataPathComputeBinding]) -> DataReference:
    """The DataReference a DataPath input stands for: named after its parameter, at the default's path.

    A run's ``DataPathAssignments`` (and ``submit(pipeline_parameters={name: DataPath(...)})``) repoint a
    DataReference input of that name, so the parameter needs no machinery of its own.
    """
    from amlflow.data.data_reference import DataReference

    param, binding = item
    if not isinstance(param.default_value, DataPath):
        raise UserErrorException(
            f"PipelineParameter {param.name!r} is bound with a DataPathComputeBinding, so its default_value must be "
            f"a DataPath, not {type(param.default_value).__name__}"
        )
    return DataReference.create(param.name, param.default_value, binding)
