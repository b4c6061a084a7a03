"""``TabularDataset``: rows read from delimited or parquet files, as ``azureml.data.TabularDataset``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlflow.data.abstract_dataset import AbstractDataset
from amlflow.data.dataset_definition import TABULAR, with_transform
from amlflow.data.dataset_sources import resolve
from amlflow.data.dataset_transforms import (
    apply_to_frame,
    column_list,
)
from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    import pandas

    from amlflow.data.dataset_registry import DatasetRegistration
    from amlflow.data.file_dataset import FileDataset


class TabularDataset(AbstractDataset):
    """A table. Made by ``Dataset.Tabular.from_delimited_files`` or ``from_parquet_files``."""

    def __init__(self, definition: dict[str, Any] | None = None, registration: DatasetRegistration | None = None):
        super().__init__(definition, registration)
        if self._definition["type"] != TABULAR:
            raise UserErrorException(f"A TabularDataset needs a 'Tabular' definition, not {self._definition['type']!r}")

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> pandas.DataFrame:
        """The rows as a pandas DataFrame (files in order, then the transforms in order).

        As Azure ML's defaults, a value that does not convert to its column's type is null; other
        ``on_error`` choices are not offered.
        """
        from amlflow.data.tabular_reader import read_frame

        if on_error != "null" or out_of_range_datetime != "null":
            raise UserErrorException("to_pandas_dataframe: amlflow supports on_error='null' and "
                                     "out_of_range_datetime='null' only")  # fmt: skip
        definition = self._definition
        frame = read_frame(resolve(definition["sources"]), definition["reader"], definition.get("partition_format"))
        return apply_to_frame(frame, self._definition["transforms"])

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> TabularDataset:
        """The table with only ``columns``; ``validate=True`` reads the data now to check they exist."""
        derived = self._derived(
            with_transform(self._definition, {"keep_columns": column_list("keep_columns", columns)})
        )
        if validate:
            derived.take(1).to_pandas_dataframe()
        return derived

    def drop_columns(self, columns: str | list[str]) -> TabularDataset:
        """The table without ``columns`` (a column it does not have is ignored)."""
        return self._derived(with_transform(self._definition, {"drop_columns": column_list("drop_columns", columns)}))

    def filter(self, expression: Any) -> TabularDataset:
        """The rows that match ``expression``, built from ``dataset[column]`` (``amlflow.data.dataset_expressions``):
        ``ds.filter((ds['age'] >= 18) & ds['name'].starts_with('A'))``. Evaluated when the data is read; a
        column the table does not have then is a ``DatasetValidationError`` naming it."""
        from amlflow.data.dataset_expressions import expression_json

        return self._derived(with_transform(self._definition, {"filter": expression_json(expression, "filter")}))

    def partition_by(
        self,
        partition_keys: list[str],
        target: Any,
        name: str | None = None,
        show_progress: bool = True,
        partition_as_file_dataset: bool = False,
    ) -> TabularDataset | FileDataset:
        """Write the rows as parquet partitioned by ``partition_keys`` and return a dataset over them.

        The files go under a new folder ``<target path>/<uuid>/``: ``<key value>/.../part-00000.parquet``
        (datetime keys as ``yyyyMMddHHmmss``), without the key columns, which the new dataset's
        ``partition_format`` reads back from the paths (typed back as long, float or bool where they were).
        The dataset is returned, and registered as ``name`` (a new version), only once every file is written;
        a failure deletes the files written so far, and nothing refers to the folder before. ``target`` is a
        ``DataPath``, a ``Datastore`` or a ``(datastore, path)`` tuple.
        """
        return _partition_by(self, partition_keys, target, name, show_progress, partition_as_file_dataset)

    def localized(self, root: str) -> TabularDataset:
        """This table with its files downloaded under ``root``: read without datastore credentials."""
        from amlflow.data.file_dataset import localized_definition

        return self._derived(localized_definition(self._definition, root))


def _partition_by(
    dataset: TabularDataset,
    partition_keys: Any,
    target: Any,
    name: str | None,
    show_progress: bool,
    as_files: bool,
) -> TabularDataset | FileDataset:
    import contextlib
    import io
    import uuid

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from amlflow.core.dataset import Dataset
    from amlflow.storage import get_backend

    def console(message: str) -> None:
        if show_progress:
            print(message)

    console("Validating arguments.")
    if isinstance(partition_keys, str) or not isinstance(partition_keys, list | tuple) or not partition_keys:
        raise UserErrorException("partition_keys cannot be empty" if not partition_keys else
                                 f"partition_keys must be a list of column names, not {partition_keys!r}")  # fmt: skip
    keys = list(partition_keys)
    if len(keys) != len(set(keys)):
        raise UserErrorException("partition_keys cannot have duplicates")
    datastore, folder = _parse_target(target)
    frame = dataset.to_pandas_dataframe()
    invalid = [key for key in keys if key not in frame.columns]
    if invalid:
        raise UserErrorException(f"{invalid} are invalid partition keys")
    if frame.empty:
        raise UserErrorException("partition_by: the dataset has no rows to write")
    dates = [key for key in keys if pd.api.types.is_datetime64_any_dtype(frame[key])]
    if len(dates) > 1:
        raise UserErrorException(f"partition_by: at most one datetime partition key (as partition_format), not {dates}")
    for key in keys:
        _check_partition_values(key, frame[key], key in dates)
    console("Arguments validated.")

    base = f"{folder}/{uuid.uuid4()}".strip("/")
    partition_format = (
        "/"
        + base
        + "/"
        + "".join(f"{{{key}:yyyyMMddHHmmss}}*/" if key in dates else f"{{{key}}}/" for key in keys)
        + "*.parquet"
    )
    pattern = base + "/" + "*/" * len(keys) + "*.parquet"
    types = {key: _type_back(frame[key]) for key in keys if key not in dates}
    types = {key: conversion for key, conversion in types.items() if conversion is not None}

    backend = get_backend(datastore.name)
    written: list[str] = []
    console(f"Uploading file to /{base}/")
    try:
        for values, part in frame.groupby(keys, sort=True, dropna=False):
            values = values if isinstance(values, tuple) else (values,)
            folders = [
                value.strftime("%Y%m%d%H%M%S") if key in dates else _folder_text(value)
                for key, value in zip(keys, values, strict=True)
            ]
            path = "/".join([base, *folders, "part-00000.parquet"])
            buffer = io.BytesIO()
            table = pa.Table.from_pandas(part.drop(columns=keys).reset_index(drop=True), preserve_index=False)
            pq.write_table(table, buffer)
            backend.write_bytes(path, buffer.getvalue())
            written.append(path)
    except BaseException:
        for path in written:  # nothing refers to the folder yet: leave none of it behind
            with contextlib.suppress(Exception):  # the write's error is the one to raise
                backend.delete(path)
        raise
    console("Successfully uploaded file to datastore.")
    console("Creating a new dataset.")
    if as_files:
        saved: Any = Dataset.File.from_files((datastore, pattern), partition_format=partition_format)
    else:
        from amlflow.data.dataset_factory import DataType

        saved = Dataset.Tabular.from_parquet_files(
            (datastore, pattern),
            partition_format=partition_format,
            set_column_types={key: DataType(conversion) for key, conversion in types.items()} or None,
        )
    console("Successfully created a new dataset.")
    if name is None:
        return saved
    console("registering a new dataset.")
    registered = saved.register(datastore.workspace, name, create_new_version=True)
    console("Successfully created and registered a new dataset.")
    return registered


def _parse_target(target: Any) -> tuple[Any, str]:
    from amlflow.core.datastore import Datastore
    from amlflow.data.datapath import DataPath

    if isinstance(target, Datastore):
        return target, ""
    if isinstance(target, DataPath):
        return target.datastore, target.path_on_datastore or ""
    is_pair = isinstance(target, tuple) and len(target) == 2
    if is_pair and isinstance(target[0], Datastore) and isinstance(target[1], str):
        return target[0], target[1]
    raise UserErrorException(
        f"partition_by: the target type is not supported, target: {target!r}; give a DataPath, a Datastore or "
        "a (datastore, path) tuple"
    )


def _check_partition_values(key: str, values: Any, is_date: bool) -> None:
    if values.isna().any():
        raise UserErrorException(
            f"partition_by: partition key {key!r} has null values, which a folder name cannot hold; fill or "
            "filter them first (dataset.filter(~dataset[key].is_null()))"
        )
    if is_date:
        return
    bad = [value for value in values.unique() if not _folder_text(value) or set(_folder_text(value)) & set("./\\")]
    if bad:
        raise UserErrorException(
            f"partition_by: partition key {key!r} has values {bad[:5]} that partition_format cannot read back "
            "from a folder name (empty, or with '.', '/' or '\\'); partition by another column"
        )


def _folder_text(value: Any) -> str:
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "True" if value else "False"
    return str(value)


def _type_back(values: Any) -> dict[str, Any] | None:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return {"type": "bool"}
    if pd.api.types.is_integer_dtype(values):
        return {"type": "long"}
    if pd.api.types.is_float_dtype(values):
        return {"type": "float", "decimal_mark": "."}
    return None
