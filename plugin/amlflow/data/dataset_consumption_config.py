"""``DatasetConsumptionConfig``: how a step receives a dataset, as ``azureml.data.dataset_consumption_config``.

A step lists it in ``inputs`` (and may pass it in ``arguments``); in the script,
``Run.get_context().input_datasets[name]`` is the dataset itself (``direct``) or the local path of its
files (``mount``, ``download``: the file itself when the dataset was made from one file). The dataset may
be a ``PipelineParameter`` whose default is a dataset, so each run can be given another.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from amlflow.exceptions import UserErrorException

DIRECT_MODE, DOWNLOAD_MODE, MOUNT_MODE = "direct", "download", "mount"
MODES = (DIRECT_MODE, DOWNLOAD_MODE, MOUNT_MODE)


class DatasetConsumptionConfig:
    """``DatasetConsumptionConfig(name, dataset, mode='direct', path_on_compute=None)``.

    ``dataset`` is a FileDataset or TabularDataset, a PipelineParameter whose default is one, or a
    ``(workspace, name[, version])`` tuple of a registered dataset (the latest version without one).
    """

    def __init__(self, name: str | None, dataset: Any, mode: str = DIRECT_MODE, path_on_compute: str | None = None):
        mode = mode.lower() if isinstance(mode, str) else mode
        if isinstance(dataset, tuple):
            dataset = _registered(dataset)
        _check_mode(dataset, mode)
        self.dataset = _checked_parameter(dataset)
        self._name = name or _default_name(self.dataset)
        self.mode = mode
        self.path_on_compute = path_on_compute

    @property
    def name(self) -> str:
        """The input's name (in the step's ``input_datasets``)."""
        return self._name

    @property
    def arg_val(self) -> str:
        """What Azure ML puts in a step's arguments before the run replaces it (``DatasetConsumptionConfig:<name>``)."""
        return f"DatasetConsumptionConfig:{self._name}"

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self._name!r}, mode={self.mode!r})"

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """This input, downloaded to ``path_on_compute`` before the step runs."""
        return DatasetConsumptionConfig(self._name, self.dataset, DOWNLOAD_MODE, path_on_compute)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """This input, mounted at ``path_on_compute``."""
        return DatasetConsumptionConfig(self._name, self.dataset, MOUNT_MODE, path_on_compute)

    def as_hdfs(self) -> DatasetConsumptionConfig:
        """Raises: hdfs mode needs Synapse Spark, which amlflow does not run."""
        raise UserErrorException(
            f"DatasetConsumptionConfig {self._name!r}: hdfs mode needs Synapse Spark, which amlflow does not run; "
            "use as_mount() or as_download()"
        )

    @property
    def parameter(self) -> Any:
        """The PipelineParameter a run may assign another dataset through, or None."""
        from amlflow.pipeline.core.graph import PipelineParameter

        return self.dataset if isinstance(self.dataset, PipelineParameter) else None

    @property
    def default_dataset(self) -> Any:
        """The dataset a run reads when it is given none."""
        parameter = self.parameter
        return parameter.default_value if parameter is not None else self.dataset


def _registered(reference: tuple[Any, ...]) -> Any:
    from amlflow.core.dataset import Dataset

    workspace, name, *rest = reference
    return Dataset.get_by_name(workspace, name, rest[0] if rest else "latest")


def _is_dataset(value: Any) -> bool:
    from amlflow.data.abstract_dataset import AbstractDataset
    from amlflow.data.dataset_reference import DatasetReference

    return isinstance(value, AbstractDataset | DatasetReference)


def _check_mode(dataset: Any, mode: Any) -> None:
    from amlflow.data.tabular_dataset import TabularDataset

    if mode not in MODES:
        raise UserErrorException(f"Invalid mode '{mode}'. Mode can only be mount, download, or direct")
    underlying = getattr(dataset, "default_value", dataset)
    if isinstance(underlying, TabularDataset) and mode != DIRECT_MODE:
        raise UserErrorException(f"{type(underlying)} does not support {mode}. Only FileDataset supports {mode}")


def _checked_parameter(dataset: Any) -> Any:
    from amlflow.data.output_dataset_config import OutputFileDatasetConfig
    from amlflow.pipeline.core.graph import PipelineParameter

    if isinstance(dataset, OutputFileDatasetConfig):
        return dataset
    if isinstance(dataset, PipelineParameter):
        if not _is_dataset(dataset.default_value):
            raise UserErrorException(
                f"Invalid PipelineParameter with default value '{dataset.default_value}. Default value must be of "
                "types: FileDataset or TabularDataset"
            )
    elif not _is_dataset(dataset):
        raise UserErrorException(
            f"DatasetConsumptionConfig: {dataset!r} is not a dataset: give a FileDataset or TabularDataset, a "
            "PipelineParameter whose default is one, an OutputFileDatasetConfig, or (workspace, name[, version])"
        )
    return dataset


def _default_name(dataset: Any) -> str:
    """Azure ML's ``input_<first part of the dataset id>``; an unsaved dataset's name comes from its definition.

    Azure ML draws a random name there; a random name would change the DAG at every parse.
    """
    underlying = getattr(dataset, "default_value", dataset)
    if not _is_dataset(underlying):  # an output dataset: it has a name
        return underlying.name
    if underlying.id:
        return f"input_{str(underlying.id).split('-')[0]}"
    digest = hashlib.sha1(json.dumps(underlying.definition, sort_keys=True).encode()).hexdigest()[:8]
    return f"input_{digest}"
