"""``FileDatasetFactory`` and ``TabularDatasetFactory`` (``Dataset.File``, ``Dataset.Tabular``) and
``DataType``, as ``azureml.data.dataset_factory``.

A factory only writes a definition. ``validate=True`` checks that the data is there (naming the path
that is not), except while Airflow parses a DAG file: a parse touches no network, so there the check
is left to the task that reads the data.
"""

from __future__ import annotations

import warnings
from typing import Any

from amlflow.data.dataset_definition import FILE, TABULAR, make_definition
from amlflow.data.dataset_sources import check_exists, sources_from_path
from amlflow.data.dataset_type_definitions import PromoteHeadersBehavior
from amlflow.data.file_dataset import FileDataset
from amlflow.data.tabular_dataset import TabularDataset
from amlflow.data.tabular_reader import ENCODINGS
from amlflow.exceptions import UserErrorException

SET_COLUMN_TYPES_ERROR = (
    "`set_column_types` must be a dictionary where key is column name and value is :class: amlflow.data.DataType"
)


class DataType:
    """A column conversion for ``set_column_types``: ``DataType.to_long()``, ``to_datetime('%Y-%m-%d')``..."""

    def __init__(self, conversion: dict[str, Any] | None = None) -> None:
        self._conversion = conversion or {"type": "string"}

    def __repr__(self) -> str:
        return f"DataType({self._conversion!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataType) and other._conversion == self._conversion

    @staticmethod
    def to_string() -> DataType:
        """Values as text."""
        return DataType({"type": "string"})

    @staticmethod
    def to_long() -> DataType:
        """Values as integers."""
        return DataType({"type": "long"})

    @staticmethod
    def to_float(decimal_mark: str = ".") -> DataType:
        """Values as floats, with ``.`` or ``,`` as the decimal mark."""
        if decimal_mark not in (".", ","):
            raise UserErrorException(f"to_float: decimal_mark must be '.' or ',', not {decimal_mark!r}")
        return DataType({"type": "float", "decimal_mark": decimal_mark})

    @staticmethod
    def to_bool() -> DataType:
        """Values as booleans."""
        return DataType({"type": "bool"})

    @staticmethod
    def to_datetime(formats: str | list[str] | None = None) -> DataType:
        """Datetimes in one of ``formats`` (``%Y-%m-%d``...); without formats, pandas infers them."""
        if formats is not None and not isinstance(formats, list):
            formats = [formats]
        return DataType({"type": "datetime", "formats": formats or None})

    @staticmethod
    def to_stream(workspace: Any, escaped: bool = False) -> DataType:
        """Raises: streams are not supported, use a FileDataset for files."""
        raise UserErrorException("DataType.to_stream is not supported by amlflow: use a FileDataset for files")


def _conversions(set_column_types: Any) -> dict[str, dict[str, Any]]:
    if set_column_types is None:
        return {}
    if not isinstance(set_column_types, dict) or not all(
        isinstance(column, str) and isinstance(data_type, DataType) for column, data_type in set_column_types.items()
    ):
        raise UserErrorException(SET_COLUMN_TYPES_ERROR)
    return {column: dict(data_type._conversion) for column, data_type in set_column_types.items()}


def _header_name(header: Any) -> str:
    if header is True or header == "ALL_FILES_HAVE_SAME_HEADERS":
        return "ALL_FILES_HAVE_SAME_HEADERS"
    if header is False or header == "NO_HEADERS":
        return "NO_HEADERS"
    if isinstance(header, PromoteHeadersBehavior):
        return header.name
    if header in ("ONLY_FIRST_FILE_HAS_HEADERS", "COMBINE_ALL_FILES_HEADERS"):
        return header
    raise UserErrorException(
        "Unsupported header provided. The allowed values are NO_HEADERS, ONLY_FIRST_FILE_HAS_HEADERS, "
        "COMBINE_ALL_FILES_HEADERS, ALL_FILES_HAVE_SAME_HEADERS"
    )


def _encoding_name(encoding: Any) -> str:
    name = encoding.name.lower() if hasattr(encoding, "name") else str(encoding).lower()
    if name not in ENCODINGS:
        raise UserErrorException(
            f"Invalid encoding '{encoding}'. The supported encodings are 'utf8', 'iso88591', 'latin1', 'ascii', "
            "'utf16', 'utf32', 'utf8bom' and 'windows1252'."
        )
    return name


def _checked_partition_format(partition_format: Any) -> str | None:
    """``partition_format`` if it is valid (None stays None), else Azure ML's error saying what is wrong."""
    from amlflow.data.dataset_partitions import parse_partition_format

    if partition_format is None:
        return None
    return parse_partition_format(partition_format).text


def _validate(sources: list[dict[str, Any]], validate: bool) -> None:
    from amlflow.pipeline.core._source import parsing_dag_file

    if validate and not parsing_dag_file():
        check_exists(sources)


class FileDatasetFactory:
    """``Dataset.File``: FileDatasets from files on datastores or at http(s) URLs."""

    @staticmethod
    def from_files(path: Any, validate: bool = True, partition_format: str | None = None,
                   is_file: bool = False) -> FileDataset:  # fmt: skip
        """A FileDataset of ``path``: a URL, a ``DataPath``, a ``(datastore, path)`` tuple, or a list of them.

        Datastore paths may be globs (``*``, ``**``, ``?``); a folder means every file under it. Local paths
        are refused: upload them with ``Datastore.upload`` and use ``(datastore, path)``.
        """
        sources = sources_from_path(path)
        partition_format = _checked_partition_format(partition_format)
        if is_file and validate:
            warnings.warn("No validation will be performed because `is_file` is set to True.", stacklevel=2)
        _validate(sources, validate and not is_file)
        return FileDataset(make_definition(FILE, sources, partition_format=partition_format))


class TabularDatasetFactory:
    """``Dataset.Tabular``: TabularDatasets from delimited or parquet files."""

    @staticmethod
    def from_delimited_files(path: Any, validate: bool = True, include_path: bool = False,
                             infer_column_types: bool = True, set_column_types: dict[str, DataType] | None = None,
                             separator: str = ",", header: bool | str | PromoteHeadersBehavior = True,
                             partition_format: str | None = None, support_multi_line: bool = False,
                             empty_as_string: bool = False, encoding: str = "utf8") -> TabularDataset:  # fmt: skip
        """A TabularDataset of delimited files (read with ``pandas.read_csv``).

        ``header``: True (each file's first row; Azure ML's ``ALL_FILES_HAVE_SAME_HEADERS``), False
        (``NO_HEADERS``: columns ``Column1``...), or a ``PromoteHeadersBehavior`` (or its name). Without
        ``infer_column_types`` every column is text. Quoted line breaks are always read.
        """
        sources = sources_from_path(path)
        if not isinstance(separator, str) or not separator:
            raise UserErrorException(f"from_delimited_files: separator must be a non-empty string, not {separator!r}")
        reader = {
            "format": "delimited",
            "separator": separator,
            "header": _header_name(header),
            "encoding": _encoding_name(encoding),
            "infer_column_types": bool(infer_column_types),
            "set_column_types": _conversions(set_column_types),
            "include_path": bool(include_path),
            "support_multi_line": bool(support_multi_line),
            "empty_as_string": bool(empty_as_string),
        }
        partition_format = _checked_partition_format(partition_format)
        _validate(sources, validate)
        return TabularDataset(make_definition(TABULAR, sources, reader, partition_format))

    @staticmethod
    def from_parquet_files(path: Any, validate: bool = True, include_path: bool = False,
                           set_column_types: dict[str, DataType] | None = None,
                           partition_format: str | None = None) -> TabularDataset:  # fmt: skip
        """A TabularDataset of parquet files (read with pyarrow)."""
        sources = sources_from_path(path)
        reader = {
            "format": "parquet",
            "set_column_types": _conversions(set_column_types),
            "include_path": bool(include_path),
        }
        partition_format = _checked_partition_format(partition_format)
        _validate(sources, validate)
        return TabularDataset(make_definition(TABULAR, sources, reader, partition_format))
