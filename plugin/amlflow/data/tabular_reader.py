"""A TabularDataset's ``reader``: how its files become one pandas DataFrame.

``{"format": "delimited", "separator", "header" (a PromoteHeadersBehavior name), "encoding" (Azure ML's
name), "infer_column_types", "set_column_types", "include_path", "empty_as_string", "support_multi_line"}``
or ``{"format": "parquet", "set_column_types", "include_path"}``. ``set_column_types`` maps a column to a
conversion (``{"type": "string"|"long"|"float"|"bool"|"datetime", ...}``); as Azure ML's default
``on_error='null'``, a value that does not convert becomes null.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

from amlflow.data.dataset_error_handling import DatasetExecutionError
from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    import pandas

    from amlflow.data.dataset_sources import SourceFile

#: Azure ML's encoding names, as Python codecs.
ENCODINGS = {
    "utf8": "utf-8",
    "iso88591": "iso-8859-1",
    "latin1": "latin-1",
    "ascii": "ascii",
    "utf16": "utf-16",
    "utf32": "utf-32",
    "utf8bom": "utf-8-sig",
    "windows1252": "cp1252",
}
#: The column ``include_path=True`` adds, as Azure ML names it.
PATH_COLUMN = "Path"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def read_frame(
    files: list[SourceFile], reader: dict[str, Any], partition_format: str | None = None
) -> pandas.DataFrame:
    """The rows of ``files`` (in their order) as one DataFrame, read as ``reader`` says, with the columns
    ``partition_format`` takes from each file's path (null for a path that does not fit it)."""
    import pandas as pd

    from amlflow.data.dataset_partitions import parse_partition_format

    partitions = parse_partition_format(partition_format) if partition_format else None
    frames = []
    first_columns: list[str] | None = None  # the first file's own columns, before any added here
    with tempfile.TemporaryDirectory(prefix="amlflow-table-") as scratch:
        for index, file in enumerate(files):
            local = file.in_place()
            if local is None:
                local = os.path.join(scratch, f"{index}-{os.path.basename(file.relative) or 'file'}")
                file.fetch(local)
            try:
                frame = _read_one(local, reader, index, first_columns)
            except (ValueError, OSError, UnicodeDecodeError) as error:
                raise DatasetExecutionError(f"Cannot read dataset file /{file.relative}: {error}", error) from None
            if first_columns is None:
                first_columns = [str(column) for column in frame.columns]
            if reader.get("include_path"):
                frame.insert(0, PATH_COLUMN, f"/{file.relative}")
            if partitions is not None:
                values = partitions.values(file.origin) or {}
                for key in partitions.keys:
                    frame[key] = values.get(key)
                if partitions.date_key is not None:
                    frame[partitions.date_key] = pd.to_datetime(frame[partitions.date_key])
            frames.append(frame)
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return convert_columns(frame, reader.get("set_column_types") or {})


def _read_one(local: str, reader: dict[str, Any], index: int, first_columns: list[str] | None) -> pandas.DataFrame:
    import pandas as pd

    if reader["format"] == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(local).to_pandas()
    header = reader.get("header", "ALL_FILES_HAVE_SAME_HEADERS")
    options: dict[str, Any] = {
        "sep": reader.get("separator", ","),
        "encoding": ENCODINGS[reader.get("encoding", "utf8")],
    }
    if not reader.get("infer_column_types", True):
        options["dtype"] = str  # as Azure ML without inference: every column is text
    elif reader.get("set_column_types"):
        # As Azure ML, a column given a type is not inferred first: "007" as a string stays "007".
        typed = list(reader["set_column_types"])
        if header == "NO_HEADERS":
            typed = [int(name[6:]) - 1 for name in typed if name.startswith("Column") and name[6:].isdigit()]
        options["dtype"] = dict.fromkeys(typed, str)
    if reader.get("empty_as_string"):
        options["keep_default_na"] = False
    if header == "NO_HEADERS":
        frame = pd.read_csv(local, header=None, **options)
        frame.columns = [f"Column{i + 1}" for i in range(frame.shape[1])]  # Azure ML's names for them
        return frame
    if header == "ONLY_FIRST_FILE_HAS_HEADERS" and index > 0:
        return pd.read_csv(local, header=None, names=first_columns, **options)
    frame = pd.read_csv(local, header=0, **options)
    if header == "ALL_FILES_HAVE_SAME_HEADERS" and index > 0 and first_columns is not None:
        if len(frame.columns) != len(first_columns):
            raise ValueError(f"it has {len(frame.columns)} columns, the first file {len(first_columns)}")
        frame.columns = first_columns
    return frame  # COMBINE_ALL_FILES_HEADERS: concat lines columns up by name


def convert_columns(frame: pandas.DataFrame, conversions: dict[str, dict[str, Any]]) -> pandas.DataFrame:
    """``frame`` with ``set_column_types`` applied; a value that does not convert becomes null."""
    import pandas as pd

    for column, conversion in conversions.items():
        if column not in frame.columns:
            continue  # as Azure ML: a conversion of a column the data does not have does nothing
        values = frame[column]
        kind = conversion["type"]
        if kind == "string":
            frame[column] = values.astype("string")
        elif kind == "long":
            frame[column] = pd.to_numeric(values, errors="coerce").round().astype("Int64")
        elif kind == "float":
            if conversion.get("decimal_mark", ".") == ",":
                values = values.astype("string").str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
            frame[column] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif kind == "bool":
            text = values.astype("string").str.strip().str.lower()
            frame[column] = text.map(lambda v: True if v in _TRUE else False if v in _FALSE else pd.NA).astype(
                "boolean"
            )
        elif kind == "datetime":
            frame[column] = _to_datetime(values, conversion.get("formats"))
        else:
            raise UserErrorException(f"set_column_types: conversion {kind!r} of column {column!r} is unknown")
    return frame


def _to_datetime(values: pandas.Series, formats: list[str] | None) -> pandas.Series:
    import pandas as pd

    if not formats:
        return pd.to_datetime(values, errors="coerce")
    result = pd.to_datetime(values, format=formats[0], errors="coerce")
    for fmt in formats[1:]:  # each format fills what the ones before could not read
        result = result.fillna(pd.to_datetime(values, format=fmt, errors="coerce"))
    return result
