"""``DataTransferStep``: copy a file or a folder between datastores, as in ``azureml.pipeline.steps``."""

from __future__ import annotations

from typing import Any

from amlflow.data.data_reference import DataReference
from amlflow.data.sql_data_reference import SqlDataReference
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core.builder import PipelineData, PipelineStep, input_data

#: Azure ML's name of the step's one output.
OUTPUT_NAME = "_data_transfer_output"
REFERENCE_TYPES = ("file", "directory")


class DataTransferStep(PipelineStep):
    """Copies ``source_data_reference`` to ``destination_data_reference``; ``get_output()`` is the copy.

    Blob to blob is a server-side copy (the bytes never pass through the Airflow worker); local to blob
    and blob to local stream each file. A ``SqlDataReference`` source is a query (or a table) whose rows
    become one CSV file: the destination itself with ``destination_reference_type='file'``, else
    ``<data_reference_name>.csv`` in the destination folder. Every copied file is checked (size, and MD5
    where both stores have one) before the destination is committed with a manifest, so later steps that consume
    ``get_output()`` read it like any other step output. ``source_reference_type`` and
    ``destination_reference_type`` are ``'file'`` or ``'directory'``; left out, the source's type is
    found when the step runs and the destination takes the same.
    """

    kind = "DataTransferStep"

    def __init__(
        self,
        name: str,
        source_data_reference: Any = None,
        destination_data_reference: Any = None,
        compute_target: Any = None,
        source_reference_type: str | None = None,
        destination_reference_type: str | None = None,
        allow_reuse: bool = True,
    ) -> None:
        where = f"DataTransferStep {name!r}"
        for field, value in (
            ("source_data_reference", source_data_reference),
            ("destination_data_reference", destination_data_reference),
            ("compute_target", compute_target),
        ):
            if value is None:
                raise UserErrorException(f"{where}: {field} is required")
        destination = input_data(destination_data_reference)
        if not isinstance(destination, DataReference) or isinstance(destination, SqlDataReference):
            raise UserErrorException(
                f"{where}: destination_data_reference must be a DataReference (or a binding of one), "
                f"got {destination_data_reference!r}"
            )
        if not isinstance(input_data(source_data_reference), DataReference | PipelineData):
            raise UserErrorException(
                f"{where}: source_data_reference must be a DataReference, a PipelineData or a binding of one, "
                f"got {source_data_reference!r}"
            )
        self._output = PipelineData(
            OUTPUT_NAME,
            datastore=destination.datastore,
            output_path_on_compute=destination.path_on_compute,
            output_overwrite=destination.overwrite,
        )
        # The destination is where the output goes, not data the step reads: it is not an input here.
        super().__init__(name, [source_data_reference], [self._output])
        self.source_data_reference = source_data_reference
        self.destination_data_reference = destination_data_reference
        self.destination = destination
        self.compute_target = (compute_target, "DataFactory") if isinstance(compute_target, str) else compute_target
        self.source_reference_type = _lower(source_reference_type)
        self.destination_reference_type = _lower(destination_reference_type)
        self.allow_reuse = allow_reuse

    def get_output(self) -> PipelineData:
        """The copied data, as a PipelineData that later steps take as an input."""
        return self._output

    def validate_step(self, pipeline: Any) -> list[tuple[str, str]]:
        """Reference types that fit the source and destination, a DataFactoryCompute target and a destination path."""
        from amlflow.core.compute import DataFactoryCompute, resolve_compute

        errors = []
        for field in ("source_reference_type", "destination_reference_type"):
            value = getattr(self, field)
            if value is not None and value not in REFERENCE_TYPES:
                errors.append((field, f"{value!r} is not 'file' or 'directory'"))
        if self.source_reference_type == "directory" and self.destination_reference_type == "file":
            errors.append(("destination_reference_type", "a directory cannot be copied to a file"))
        source = input_data(self.source_data_reference)
        if isinstance(source, SqlDataReference):
            errors.extend(("source_data_reference", problem) for problem in source.query_problems())
            if self.source_reference_type == "directory":
                errors.append(("source_reference_type", "a SqlDataReference is one file (its rows), not a directory"))
        target = resolve_compute(pipeline.workspace, self.compute_target)
        if not isinstance(target, DataFactoryCompute):
            errors.append(("compute_target", f"{target!r} is not a DataFactoryCompute"))
        if not self.destination.path_on_datastore:
            errors.append(("destination_data_reference", "needs a path_on_datastore to copy to"))
        return errors


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
