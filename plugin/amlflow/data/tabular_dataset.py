"""``TabularDataset``: rows read from delimited or parquet files, as ``azureml.data.TabularDataset``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlflow.data.abstract_dataset import AbstractDataset
from amlflow.data.dataset_definition import TABULAR, with_transform
from amlflow.data.dataset_sources import resolve
from amlflow.data.dataset_transforms import (
    apply_to_frame,
    column_list,
    count_transform,
    sample_transform,
    split_transforms,
)
from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    import pandas

    from amlflow.data.dataset_registry import DatasetRegistration


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

    def skip(self, count: int) -> TabularDataset:
        """The table without its first ``count`` rows."""
        return self._derived(with_transform(self._definition, count_transform("skip", count)))

    def take(self, count: int) -> TabularDataset:
        """The table's first ``count`` rows."""
        return self._derived(with_transform(self._definition, count_transform("take", count)))

    def take_sample(self, probability: float, seed: int | None = None) -> TabularDataset:
        """Each row kept with ``probability``; the same ``seed`` keeps the same rows."""
        return self._derived(with_transform(self._definition, sample_transform(probability, seed)))

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[TabularDataset, TabularDataset]:
        """Two tables: about ``percentage`` of the rows, and the others. The same ``seed``, the same split."""
        first, second = split_transforms(percentage, seed)
        return self._derived(with_transform(self._definition, first)), self._derived(
            with_transform(self._definition, second)
        )

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
        raise UserErrorException(
            "TabularDataset.filter is not supported by amlflow yet (Azure ML's expression language is not "
            "implemented); read the table with to_pandas_dataframe() and filter the DataFrame"
        )

    def localized(self, root: str) -> TabularDataset:
        """This table with its files downloaded under ``root``: read without datastore credentials."""
        from amlflow.data.file_dataset import localized_definition

        return self._derived(localized_definition(self._definition, root))
