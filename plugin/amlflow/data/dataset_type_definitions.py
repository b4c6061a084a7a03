"""Enumerations of dataset reading options, at ``azureml.data.dataset_type_definitions``'s names."""

from __future__ import annotations

from enum import Enum


class PromoteHeadersBehavior(Enum):
    """How the first rows of delimited files become column names (``from_delimited_files(header=...)``)."""

    NO_HEADERS = 0
    ONLY_FIRST_FILE_HAS_HEADERS = 1
    COMBINE_ALL_FILES_HEADERS = 2
    ALL_FILES_HAVE_SAME_HEADERS = 3


class FileEncoding(Enum):
    """Encodings ``from_delimited_files(encoding=...)`` accepts, by Azure ML's names."""

    UTF8 = 0
    ISO88591 = 1
    LATIN1 = 2
    ASCII = 3
    UTF16 = 4
    UTF32 = 5
    UTF8BOM = 6
    WINDOWS1252 = 7
