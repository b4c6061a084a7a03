"""``Dataset``: the entry point to datasets, as ``azureml.core.Dataset``.

``Dataset.File.from_files(...)``, ``Dataset.Tabular.from_delimited_files(...)``, and the registry's
``Dataset.get_by_name``, ``get_by_id`` and ``get_all``.
"""

from __future__ import annotations

from typing import Any

from amlflow.data.abstract_dataset import AbstractDataset
from amlflow.data.dataset_factory import FileDatasetFactory, TabularDatasetFactory


class Dataset:
    """Namespace of dataset factories and look-ups; datasets themselves are FileDataset or TabularDataset."""

    File = FileDatasetFactory
    Tabular = TabularDatasetFactory

    @staticmethod
    def get_by_name(workspace: Any, name: str, version: int | str = "latest", **kwargs: Any) -> AbstractDataset:
        """The dataset registered as ``name`` (its ``version``, default the latest)."""
        return AbstractDataset.get_by_name(workspace, name, version)

    @staticmethod
    def get_by_id(workspace: Any, id: str, **kwargs: Any) -> AbstractDataset:
        """The saved dataset ``id``."""
        return AbstractDataset.get_by_id(workspace, id)

    @staticmethod
    def get_all(workspace: Any) -> dict[str, AbstractDataset]:
        """Every registered dataset's latest version, by name."""
        return AbstractDataset.get_all(workspace)
