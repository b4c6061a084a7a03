"""Data declarations, at ``azureml.data``'s module paths."""

from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.data.dataset_factory import DataType
from amlflow.data.file_dataset import FileDataset
from amlflow.data.output_dataset_config import OutputFileDatasetConfig
from amlflow.data.tabular_dataset import TabularDataset

__all__ = ["DataType", "DatasetConsumptionConfig", "FileDataset", "OutputFileDatasetConfig", "TabularDataset"]
