"""``FileDataset``: a list of files on datastores or at URLs, as ``azureml.data.FileDataset``."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from amlflow.data.abstract_dataset import AbstractDataset
from amlflow.data.dataset_definition import FILE, with_transform
from amlflow.data.dataset_sources import SourceFile, has_glob, resolve
from amlflow.data.dataset_transforms import apply_to_list
from amlflow.data.tabular_reader import PATH_COLUMN
from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    import pandas

    from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
    from amlflow.data.dataset_expressions import RecordFieldExpression
    from amlflow.data.dataset_registry import DatasetRegistration


class FileDataset(AbstractDataset):
    """Files to download or mount. Made by ``Dataset.File.from_files``."""

    def __init__(self, definition: dict[str, Any] | None = None, registration: DatasetRegistration | None = None):
        super().__init__(definition, registration)
        if self._definition["type"] != FILE:
            raise UserErrorException(f"A FileDataset needs a 'File' definition, not {self._definition['type']!r}")

    def _files(self, ignore_not_found: bool = False) -> list[SourceFile]:
        files = resolve(self._definition["sources"], ignore_not_found)
        return apply_to_list(files, self._definition["transforms"], self._file_columns)

    def _partition_files(self) -> list[SourceFile]:
        return self._files()

    def _column_names(self) -> list[str]:
        """The columns a filter reads: ``Path`` (as ``to_path`` shows it) and the partition keys."""
        return [PATH_COLUMN, *self.partition_keys]

    def _file_columns(self, files: list[SourceFile]) -> pandas.DataFrame:
        """One row per file: its ``Path`` and its partition columns (null where the path does not fit)."""
        import pandas as pd

        from amlflow.data.dataset_partitions import parse_partition_format

        columns: dict[str, list[Any]] = {PATH_COLUMN: [f"/{file.relative}" for file in files]}
        text = self._definition.get("partition_format")
        if text:
            partitions = parse_partition_format(text)
            found = [partitions.values(file.origin) or {} for file in files]
            for key in partitions.keys:
                columns[key] = [values.get(key) for values in found]
        frame = pd.DataFrame(columns)
        for key in self.partition_keys:
            if text and key == parse_partition_format(text).date_key:
                frame[key] = pd.to_datetime(frame[key])
        return frame

    def __getitem__(self, key: str) -> RecordFieldExpression:
        """``dataset['column']`` for ``filter``: ``'Path'`` or a partition key of ``partition_format``."""
        if key not in self._column_names():
            raise UserErrorException(
                f"FileDataset has no column {key!r}: its columns are {self._column_names()} ('Path' and the "
                "partition keys of partition_format)"
            )
        return super().__getitem__(key)

    def to_path(self) -> list[str]:
        """The files' paths relative to where the sources point, each with a leading '/' (as Azure ML)."""
        return [f"/{file.relative}" for file in self._files()]

    def is_single_file(self) -> bool:
        """Whether the definition is one source naming one file (no glob, not a folder): then a download or
        mount of it is that file. Looks the file up (outside a DAG file's parse only: that touches nothing)."""
        from amlflow.pipeline.core._source import parsing_dag_file

        sources = self._definition["sources"]
        if len(sources) != 1:
            return False
        source = sources[0]
        if "url" in source:
            return True
        if "local" in source:
            return os.path.isfile(source["local"])
        if has_glob(source["path"]) or not source["path"] or parsing_dag_file():
            return False
        from amlflow.storage import get_backend

        infos = get_backend(source["datastore"]).list_files(source["path"])
        return len(infos) == 1 and infos[0].path == source["path"]

    def download(
        self, target_path: str | None = None, overwrite: bool = False, ignore_not_found: bool = False
    ) -> list[str]:
        """Download the files under ``target_path`` (default: a new temporary folder), keeping their relative
        paths; returns their local paths. An existing file is an error unless ``overwrite``, as Azure ML; a source
        that names no file is an error unless ``ignore_not_found``."""
        target = os.path.abspath(target_path) if target_path else tempfile.mkdtemp(prefix="amlflow-dataset-")
        return _download(self._files(ignore_not_found), target, overwrite)

    def mount(self, mount_point: str | None = None, **kwargs: Any) -> MountContext:
        """A context that makes the files available at ``mount_point`` (default: a new temporary folder).

        amlflow does not mount: ``start()`` downloads the files into the mount point and ``stop()`` removes
        them again (and the folder, when this made it). Use it as ``with dataset.mount() as context:``.
        """
        return MountContext(self, mount_point)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """The dataset as a mounted input of a step, named ``input_<id>`` as Azure ML does."""
        return self.as_named_input(None).as_mount(path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """The dataset as a downloaded input of a step, named ``input_<id>`` as Azure ML does."""
        return self.as_named_input(None).as_download(path_on_compute)

    def as_hdfs(self) -> DatasetConsumptionConfig:
        """Raises: hdfs mode needs Synapse Spark, which amlflow does not run."""
        return self.as_named_input(None).as_hdfs()

    def filter(self, expression: Any) -> FileDataset:
        """The files whose ``Path`` and partition columns match ``expression`` (built from ``dataset[column]``,
        see ``amlflow.data.dataset_expressions``): ``ds.filter(ds['year'] >= 2019)``."""
        from amlflow.data.dataset_expressions import columns_of, describe, expression_json

        data = expression_json(expression, "FileDataset.filter")
        unknown = sorted(columns_of(data) - set(self._column_names()))
        if unknown:
            raise UserErrorException(
                f"FileDataset.filter {describe(data)}: no column {unknown}; a FileDataset's columns are "
                f"{self._column_names()} ('Path' and the partition keys of partition_format)"
            )
        return self._derived(with_transform(self._definition, {"filter": data}))

    def localized(self, root: str) -> FileDataset:
        """This dataset with its files downloaded under ``root``: read without datastore credentials.

        Every file of the sources is downloaded (before the transforms, which the new dataset keeps and
        applies to the same files in the same order), so ``to_path()`` and the data are unchanged.
        """
        return self._derived(localized_definition(self._definition, root))


def localized_definition(definition: dict[str, Any], root: str) -> dict[str, Any]:
    """``definition`` with its sources downloaded under ``root`` and replaced by ``{"local": ...}`` entries."""
    root = os.path.abspath(root)
    files = resolve(definition["sources"])
    paths = _download(files, root, overwrite=True)
    localized = dict(definition)
    # "origin" keeps the path partition_format reads, which the local copy's path may not contain.
    localized["sources"] = [
        {"local": path, "root": root, "origin": file.origin} for file, path in zip(files, paths, strict=True)
    ]
    localized["transforms"] = list(definition["transforms"])
    return localized


def _download(files: list[SourceFile], target: str, overwrite: bool) -> list[str]:
    plan = [(file, os.path.join(target, *file.relative.split("/"))) for file in files]
    seen: set[str] = set()
    for file, local in plan:
        if local in seen:
            raise UserErrorException(f"Dataset files collide: two files download to /{file.relative}")
        seen.add(local)
        if os.path.exists(local) and not overwrite:
            raise UserErrorException(
                f'File "{local}" already exists. Set overwrite=True to overwrite it, or choose an empty target path.'
            )
    for file, local in plan:
        file.fetch(local)
    return [local for _file, local in plan]


class MountContext:
    """What ``FileDataset.mount()`` returns: ``mount_point``, ``start()``, ``stop()``, usable in ``with``.

    A download, not a mount: ``start()`` copies the files into the mount point, ``stop()`` removes them.
    """

    def __init__(self, dataset: FileDataset, mount_point: str | None = None) -> None:
        self._dataset = dataset
        self._made_folder = mount_point is None or not os.path.exists(mount_point)
        self.mount_point = os.path.abspath(mount_point) if mount_point else tempfile.mkdtemp(prefix="amlflow-mount-")
        self._files: list[str] = []

    def start(self) -> None:
        """Download the files into the mount point, which must be empty."""
        if os.path.isdir(self.mount_point) and os.listdir(self.mount_point):
            raise UserErrorException(
                "Dataset mount point must be empty, mounting dataset to non-empty folder is not supported."
            )
        os.makedirs(self.mount_point, exist_ok=True)
        self._files = self._dataset.download(self.mount_point, overwrite=True)

    def stop(self) -> None:
        """Remove the files: the whole folder if the context made it, else only what it holds."""
        if self._made_folder:
            shutil.rmtree(self.mount_point, ignore_errors=True)
            return
        for entry in os.listdir(self.mount_point):  # the user's folder stays, emptied as it was given
            path = os.path.join(self.mount_point, entry)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        self._files = []

    def __enter__(self) -> MountContext:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
