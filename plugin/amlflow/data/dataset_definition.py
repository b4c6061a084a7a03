"""A dataset's definition: the JSON-able dict that is the whole dataset, and the one form that travels.

``{"type": "File"|"Tabular", "sources": [...], "reader": {...} (Tabular only), "transforms": [...]}``,
and ``"partition_format"`` when one was given.

It goes in DAG operator arguments, YAML, the dataset registry and a script's environment, so it holds
only names and paths (never a credential) and is rebuilt into a dataset with ``dataset_from_definition``.
Its id is a uuid5 of its canonical JSON: the same definition saved twice is the same saved dataset.
(Azure ML has a legacy ``azureml.data.dataset_definition`` module of another meaning; amlflow has no
other use for the name.)
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from amlflow.data.dataset_sources import url_problem
from amlflow.exceptions import UserErrorException

FILE, TABULAR = "File", "Tabular"
TYPES = (FILE, TABULAR)
SOURCE_KINDS = ("datastore", "url", "local")
#: Fixed, so every machine computes the same id for the same definition.
ID_NAMESPACE = uuid.UUID("5b0f3c1e-6a43-5d8e-9c1a-a3f1d2e0b7c4")


def canonical_json(definition: dict[str, Any]) -> str:
    """The definition as JSON with sorted keys and no spaces: equal definitions give equal text."""
    return json.dumps(definition, sort_keys=True, separators=(",", ":"))


def definition_id(definition: dict[str, Any]) -> str:
    """The id of the saved dataset of ``definition`` (a uuid5 of its canonical JSON)."""
    return str(uuid.uuid5(ID_NAMESPACE, canonical_json(definition)))


def make_definition(
    kind: str,
    sources: list[dict[str, Any]],
    reader: dict[str, Any] | None = None,
    partition_format: str | None = None,
) -> dict[str, Any]:
    """A checked dataset definition of ``kind`` from its sources (a tabular one with its reader), with no transforms
    yet.
    """
    definition: dict[str, Any] = {"type": kind, "sources": sources}
    if kind == TABULAR:
        definition["reader"] = reader or {}
    if partition_format:  # only when given: definitions without one keep their ids
        definition["partition_format"] = partition_format
    definition["transforms"] = []
    return checked_definition(definition)


def with_transform(definition: dict[str, Any], transform: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``definition`` with one more transform at the end (the original is never changed)."""
    new = copy.deepcopy(definition)
    new["transforms"].append(transform)
    return new


def checked_definition(definition: Any) -> dict[str, Any]:
    """``definition`` (a deep copy), or a ``UserErrorException`` naming what is wrong with it."""
    if not isinstance(definition, dict):
        raise UserErrorException(f"A dataset definition must be a dict, not {type(definition).__name__}")
    kind = definition.get("type")
    if kind not in TYPES:
        raise UserErrorException(f"Dataset definition: 'type' must be 'File' or 'Tabular', not {kind!r}")
    sources = definition.get("sources")
    if not isinstance(sources, list) or not sources:
        raise UserErrorException("Dataset definition: 'sources' must be a non-empty list")
    for source in sources:
        kinds = [k for k in SOURCE_KINDS if isinstance(source, dict) and k in source]
        if len(kinds) != 1:
            raise UserErrorException(
                f"Dataset definition: source {source!r} must have exactly one of 'datastore' (with 'path'), "
                "'url' or 'local'"
            )
        if kinds[0] == "datastore" and not isinstance(source.get("path"), str):
            raise UserErrorException(f"Dataset definition: datastore source {source!r} has no 'path'")
        if kinds[0] == "url":
            problem = url_problem(source["url"])
            if problem:
                raise UserErrorException(f"Dataset definition: source {problem}")
    if kind == TABULAR and not isinstance(definition.get("reader"), dict):
        raise UserErrorException("Dataset definition: a Tabular dataset needs a 'reader' dict")
    if kind == TABULAR and definition["reader"].get("format") not in ("delimited", "parquet"):
        raise UserErrorException(
            f"Dataset definition: reader format {definition['reader'].get('format')!r} is not 'delimited' or 'parquet'"
        )
    if "partition_format" in definition:
        from amlflow.data.dataset_partitions import parse_partition_format

        parse_partition_format(definition["partition_format"])
    transforms = definition.get("transforms", [])
    if not isinstance(transforms, list) or any(not isinstance(t, dict) or len(t) != 1 for t in transforms):
        raise UserErrorException("Dataset definition: 'transforms' must be a list of one-key dicts")
    for transform in transforms:
        if "filter" in transform:
            from amlflow.data.dataset_expressions import check_json

            check_json(transform["filter"])
    checked = copy.deepcopy(definition)
    checked["transforms"] = copy.deepcopy(transforms)
    return checked
