"""A dataset as the JSON that travels (operator arguments, a pipeline's YAML, a script's environment), and back.

``{"definition": {...}, "id": ..., "name": ..., "version": ...}``: the definition says what the dataset
reads; id, name and version, where it has them, say which saved or registered dataset it is.
"""

from __future__ import annotations

from typing import Any

_IDENTITY = ("id", "name", "version")


def dataset_value(dataset: Any) -> dict[str, Any]:
    """The JSON of ``dataset``."""
    value = {"definition": dataset.definition}
    value.update({key: getattr(dataset, key) for key in _IDENTITY if getattr(dataset, key)})
    return value


def dataset_from_value(value: dict[str, Any]) -> Any:
    """The dataset of its JSON (``dataset_value``); a registered dataset named in a DAG file stays a reference."""
    from amlflow.data.abstract_dataset import dataset_from_definition
    from amlflow.data.dataset_reference import REGISTERED, reference_from_definition
    from amlflow.data.dataset_registry import DatasetRegistration

    if value["definition"]["type"] == REGISTERED:
        return reference_from_definition(value["definition"])
    known = value.get("id") is not None
    registration = (
        DatasetRegistration(None, value.get("id"), value.get("name"), value.get("version")) if known else None
    )
    return dataset_from_definition(value["definition"], registration)
