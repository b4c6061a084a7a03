"""``OutputFileDatasetConfig``: a step output promoted to a FileDataset, as ``azureml.data.output_dataset_config``.

It is a ``PipelineData`` with a say in where its files go: in a step it becomes one (``pipeline_data``),
so it is staged, committed atomically with its manifest, passed to later steps and reused exactly as
PipelineData is; a failed step publishes nothing. What it adds travels in the output spec:
``destination`` (a datastore path with Azure ML's ``{run-id}`` and ``{output-name}`` placeholders) and
``register_on_complete`` (a dataset version registered over the committed files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    from amlflow.core.datastore import Datastore
    from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
    from amlflow.pipeline.core.builder import PipelineData

#: Azure ML's destination when none is given: the default datastore, under this path.
DEFAULT_DESTINATION = "dataset/{run-id}/{output-name}"
PLACEHOLDERS = ("{run-id}", "{output-name}")


class OutputDatasetConfig:
    """What every output dataset configuration has: a name, and a registration to make once it is written."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._registration: dict[str, Any] | None = None

    def register_on_complete(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> OutputDatasetConfig:
        """Register the output as a new version of dataset ``name`` when the step has committed it."""
        if not isinstance(name, str) or not name:
            raise ValueError("The registration name of the dataset must not be empty.")
        from amlflow.data.dataset_registry import check_name

        check_name(name)
        self._registration = {"name": name, "description": description, "tags": dict(tags or {})}
        return self


class OutputFileDatasetConfig(OutputDatasetConfig):
    """``OutputFileDatasetConfig(name=None, destination=None, source=None, partition_format=None)``.

    :param name: the output's name: its argv value is the local folder to write (an environment variable
        of this name holds it too, ``AZUREML_DATAREFERENCE_<name>``).
    :param destination: ``(datastore, path)``; the path may hold ``{run-id}`` (the step run:
        ``<pipeline>/<run>/<step>``) and ``{output-name}``. Default: the default datastore, under
        ``dataset/{run-id}/{output-name}``.
    :param source: the local folder the script writes (``output_path_on_compute``); default, one amlflow makes.
    """

    def __init__(
        self,
        name: str | None = None,
        destination: tuple[Datastore, str] | None = None,
        source: str | None = None,
        partition_format: str | None = None,
    ) -> None:
        from amlflow.pipeline.core.builder import PipelineData

        if name is None:
            # Azure ML draws a random name; a random name would change the DAG at every parse.
            raise UserErrorException(
                "OutputFileDatasetConfig: give the output a name (OutputFileDatasetConfig(name=...)); amlflow does "
                "not draw random names, which would change the pipeline each time its file is read"
            )
        if partition_format is not None:
            raise UserErrorException(
                f"OutputFileDatasetConfig {name!r}: partition_format is not supported by amlflow yet; register the "
                "output and read it with Dataset.Tabular.from_delimited_files(..., partition_format=...)"
            )
        super().__init__(name)
        datastore, path = _checked_destination(name, destination)
        self.destination = destination
        self.source = source
        self._path_template = path
        self._data = PipelineData(name, datastore=datastore, output_path_on_compute=source)
        self._data._dataset_output = self

    @property
    def pipeline_data(self) -> PipelineData:
        """The PipelineData this output is in a step."""
        return self._data

    @property
    def path_template(self) -> str:
        """The path template on the datastore (``DEFAULT_DESTINATION`` without a destination), placeholders unfilled."""
        return self._path_template

    @property
    def registration(self) -> dict[str, Any] | None:
        """The registration to make when the step commits the output, or None."""
        return self._registration

    def __repr__(self) -> str:
        return f"OutputFileDatasetConfig(name={self.name!r}, destination={self._path_template!r})"

    def as_mount(self, disable_metadata_cache: bool = False) -> OutputFileDatasetConfig:
        """The script writes into a folder that is committed when it succeeds (amlflow's only way: see README)."""
        self._data._output_mode = "mount"
        return self

    def as_upload(self, overwrite: bool = False, source_globs: list[str] | None = None) -> OutputFileDatasetConfig:
        """Upload the folder when the script succeeds; never when it fails (Azure ML's rule too)."""
        if source_globs is not None:
            raise UserErrorException(
                f"OutputFileDatasetConfig {self.name!r}: source_globs is not supported by amlflow; write only the "
                "files to keep into the output folder"
            )
        self._data._output_mode = "upload"
        self._data._output_overwrite = overwrite
        return self

    def as_input(self, name: str | None = None) -> DatasetConsumptionConfig:
        """This output as the (mounted) input of a later step."""
        from amlflow.data.dataset_consumption_config import MOUNT_MODE, DatasetConsumptionConfig

        return DatasetConsumptionConfig(name or self.name, self, MOUNT_MODE)

    def read_delimited_files(self, *args: Any, **kwargs: Any) -> Any:
        """Raises: amlflow cannot read an output as tabular yet (the message says what to do instead)."""
        raise self._not_tabular("read_delimited_files")

    def read_parquet_files(self, *args: Any, **kwargs: Any) -> Any:
        """Raises: amlflow cannot read an output as tabular yet (the message says what to do instead)."""
        raise self._not_tabular("read_parquet_files")

    def _not_tabular(self, method: str) -> UserErrorException:
        return UserErrorException(
            f"OutputFileDatasetConfig {self.name!r}: {method}() is not supported by amlflow yet; pass the output "
            "to the next step with .as_input() and read its files there, or register it (register_on_complete) "
            "and read it with Dataset.Tabular"
        )


def _checked_destination(name: str, destination: Any) -> tuple[Datastore | None, str]:
    """The datastore (None: the default) and path template of a destination."""
    from amlflow.core.datastore import Datastore

    if destination is None:
        return None, DEFAULT_DESTINATION
    if not (isinstance(destination, tuple) and len(destination) == 2 and isinstance(destination[0], Datastore)):
        raise UserErrorException(
            f"OutputFileDatasetConfig {name!r}: destination must be a (Datastore, path) tuple, got {destination!r}"
        )
    path = str(destination[1] or "").strip("/")
    problem = _destination_problem(path)
    if problem:
        raise UserErrorException(f"OutputFileDatasetConfig {name!r}: destination path {destination[1]!r} {problem}")
    return destination[0], path


#: Where amlflow keeps its own state in a datastore: a destination there would replace it at each commit.
_RESERVED = ("amlflow", "amlflow-datasets", "amlflow-reuse", "amlflow-snapshots", "amlflow-artifacts")


def _destination_problem(path: str) -> str | None:
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts):
        return "must be a path inside the datastore (no empty, '.' or '..' part): a commit replaces what is there"
    if parts[0] in _RESERVED or parts[0].startswith(".amlflow"):
        return f"is inside {parts[0]}/, where amlflow keeps its own state; choose another folder"
    return None


def destination_path(template: str, dag_id: str, run_id: str, task_id: str, output: str) -> str:
    """A destination template with its placeholders filled in for one step run."""
    from amlflow.storage.location import step_path

    step_run = step_path(dag_id, run_id, task_id).removeprefix("amlflow/")
    return template.replace("{run-id}", step_run).replace("{output-name}", output)
