"""``AbstractDataset``: what FileDataset and TabularDataset share, as ``azureml.data.abstract_dataset``.

A dataset is its definition (``amlflow.data.dataset_definition``) plus, once saved or registered, how
the workspace knows it (id, name, version, description, tags). Nothing here reads data; registering and
saving write to the dataset registry (``amlflow.data.dataset_registry``).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any, Self

from amlflow.data import dataset_registry
from amlflow.data.dataset_definition import FILE, TABULAR, checked_definition, definition_id, with_transform
from amlflow.data.dataset_reference import DatasetReference
from amlflow.data.dataset_registry import DatasetRegistration
from amlflow.data.dataset_sources import describe_source, refuse_in_a_parse
from amlflow.data.dataset_transforms import count_transform, sample_transform, split_transforms
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core._source import parsing_dag_file

if TYPE_CHECKING:
    from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
    from amlflow.data.dataset_expressions import RecordFieldExpression

#: How ``repr`` names a definition's steps (Azure ML shows its dataflow's step names there).
_STEP_NAMES = {
    "take": "Take",
    "skip": "Skip",
    "take_sample": "TakeSample",
    "random_split": "RandomSplit",
    "keep_columns": "KeepColumns",
    "drop_columns": "DropColumns",
    "filter": "Filter",
}


#: What to do instead of reaching the registry from a DAG file.
_REGISTER_ELSEWHERE = "register it from a notebook or script, and name it in the DAG file with Dataset.get_by_name"


class AbstractDataset:
    """Base class of datasets. Made by ``Dataset.File``/``Dataset.Tabular`` factories, never directly."""

    def __init__(self, definition: dict[str, Any] | None = None, registration: DatasetRegistration | None = None):
        if type(self) is AbstractDataset:
            raise UserErrorException("Cannot create instance of abstract class AbstractDataset")
        if definition is None:
            raise UserErrorException("Dataset definition is missing. Please check how the dataset is created.")
        self._definition = checked_definition(definition)
        self._registration = registration

    # -- what the dataset is ---------------------------------------------------------------------
    @property
    def definition(self) -> dict[str, Any]:
        """The definition (a copy: changing it does not change the dataset)."""
        return copy.deepcopy(self._definition)

    @property
    def id(self) -> str | None:
        """The saved id; None until the dataset is saved (registered, or used by a submitted run)."""
        return self._registration.saved_id if self._registration else None

    @property
    def name(self) -> str | None:
        """The name it is registered under, or None if it is not registered."""
        return self._registration.name if self._registration else None

    @property
    def version(self) -> int | None:
        """The registered version, or None if it is not registered."""
        return self._registration.version if self._registration else None

    @property
    def description(self) -> str | None:
        """The registration's description, or None."""
        return self._registration.description if self._registration else None

    @property
    def tags(self) -> dict[str, str] | None:
        """The registration's tags, or None if it is not registered."""
        return self._registration.tags if self._registration else None

    @property
    def partition_keys(self) -> list[str]:
        """The columns ``partition_format`` takes from the files' paths (none without one)."""
        from amlflow.data.dataset_partitions import parse_partition_format

        text = self._definition.get("partition_format")
        return list(parse_partition_format(text).keys) if text else []

    def __getitem__(self, key: str) -> RecordFieldExpression:
        """``dataset['column']``: the column in a ``filter`` expression (``dataset['age'] > 18``)."""
        from amlflow.data.dataset_expressions import RecordFieldExpression

        return RecordFieldExpression(key)

    # Defining __getitem__ would make a dataset look iterable (0, 1, ... as column names): it is not.
    __iter__ = None  # type: ignore[assignment]

    def get_partition_key_values(self, partition_keys: list[str] | None = None) -> list[dict[str, Any]]:
        """The distinct values of ``partition_keys`` (default: all the partition keys), one dict each, in the
        order the files first show them, as Azure ML: read from the files' paths only, no file is opened.

        A FileDataset's transforms choose the files; a TabularDataset's act on rows and are not applied
        here. A file whose path does not fit ``partition_format`` gives nothing.
        """
        from amlflow.data.dataset_partitions import parse_partition_format

        if not self.partition_keys:
            raise UserErrorException("cannot retrieve partition key values for a dataset that has no partition keys")
        keys = list(partition_keys) if partition_keys else self.partition_keys
        invalid = [key for key in keys if key not in self.partition_keys]
        if invalid:
            raise UserErrorException(f"{invalid} are invalid partition keys")
        partitions = parse_partition_format(self._definition["partition_format"])
        seen: set[tuple[Any, ...]] = set()
        result = []
        for file in self._partition_files():
            values = partitions.values(file.origin)
            if values is None:
                continue
            row = tuple(values[key] for key in keys)
            if row not in seen:
                seen.add(row)
                result.append(dict(zip(keys, row, strict=True)))
        return result

    def _partition_files(self) -> list[Any]:
        from amlflow.data.dataset_sources import resolve

        return resolve(self._definition["sources"])

    # -- the registry ----------------------------------------------------------------------------
    @staticmethod
    def get_by_name(workspace: Any, name: str, version: int | str = "latest", **kwargs: Any) -> AbstractDataset:
        """The dataset registered as ``name`` (its ``version``, default the latest).

        While Airflow parses a DAG file: a reference the step's task resolves (``DatasetReference``).
        """
        if parsing_dag_file():
            return DatasetReference(name, version)
        definition, registration = dataset_registry.get_by_name(workspace, name, version)
        return dataset_from_definition(definition, registration)

    @staticmethod
    def get_by_id(workspace: Any, id: str, **kwargs: Any) -> AbstractDataset:
        """The saved dataset ``id``, with its registered name and version if it has them."""
        if parsing_dag_file():
            return DatasetReference(saved_id=id)
        definition = dataset_registry.load_definition(id, workspace)
        return dataset_from_definition(definition, dataset_registry.registration_of_id(workspace, id))

    @staticmethod
    def get_all(workspace: Any) -> dict[str, AbstractDataset]:
        """Every registered dataset's latest version, by name."""
        refuse_in_a_parse("list the registered datasets", _REGISTER_ELSEWHERE)
        return {
            name: dataset_from_definition(definition, registration)
            for name, (definition, registration) in dataset_registry.get_all(workspace).items()
        }

    def register(
        self,
        workspace: Any,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
    ) -> AbstractDataset:
        """Register the dataset as ``name``; returns the registered dataset (this object is not changed).

        A new name gets version 1. A name registered with another definition needs
        ``create_new_version=True`` (then the next version), as in Azure ML; registering the same
        definition again under its name gives back the existing registration.
        """
        refuse_in_a_parse("register a dataset", _REGISTER_ELSEWHERE)
        registration = dataset_registry.register(
            self._definition, workspace, name, description, tags, create_new_version
        )
        return dataset_from_definition(self._definition, registration)

    def _ensure_saved(self, workspace: Any) -> str:
        """Save the definition (once: saving again changes nothing) and return its id."""
        saved_id = dataset_registry.save_definition(self._definition, workspace)
        if self._registration is None:
            self._registration = DatasetRegistration(workspace, saved_id)
        elif self._registration.saved_id is None:
            self._registration.saved_id = saved_id
        return saved_id

    def _saved_id(self) -> str:
        """The id the definition has when saved, without saving it."""
        return definition_id(self._definition)

    # -- use in a run ------------------------------------------------------------------------------
    def as_named_input(self, name: str | None) -> DatasetConsumptionConfig:
        """The dataset as input ``name`` of a step (mode ``direct``): ``Run.input_datasets[name]`` in the script."""
        from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig

        return DatasetConsumptionConfig(name, self)

    # -- text and comparison --------------------------------------------------------------------
    def __str__(self) -> str:
        return f"{type(self).__name__}\n{self!r}"

    def __repr__(self) -> str:
        content: dict[str, Any] = {
            "source": [describe_source(source) for source in self._definition["sources"]],
            "definition": self._step_names(),
        }
        if self._registration is not None:
            registration: dict[str, Any] = {"id": self.id, "name": self.name, "version": self.version}
            if self.description:
                registration["description"] = self.description
            if self.tags:
                registration["tags"] = self.tags
            registration["workspace"] = repr(self._registration.workspace)
            content["registration"] = registration
        return json.dumps(content, indent=2)

    def _step_names(self) -> list[str]:
        steps = ["GetDatastoreFiles" if "datastore" in self._definition["sources"][0] else "GetFiles"]
        reader = self._definition.get("reader")
        if reader:
            steps.append("ParseDelimited" if reader["format"] == "delimited" else "ReadParquetFile")
        steps.extend(_STEP_NAMES.get(next(iter(t)), next(iter(t))) for t in self._definition["transforms"])
        return steps

    def _identity(self) -> tuple[Any, ...]:
        registration = self._registration
        return (
            type(self),
            json.dumps(self._definition, sort_keys=True),
            registration.name if registration else None,
            registration.version if registration else None,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AbstractDataset) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    # -- transforms: records are the files of a FileDataset, the rows of a TabularDataset --------------
    def skip(self, count: int) -> Self:
        """The dataset without its first ``count`` records."""
        return self._derived(with_transform(self._definition, count_transform("skip", count)))

    def take(self, count: int) -> Self:
        """The dataset's first ``count`` records."""
        return self._derived(with_transform(self._definition, count_transform("take", count)))

    def take_sample(self, probability: float, seed: int | None = None) -> Self:
        """Each record kept with ``probability``; the same ``seed`` keeps the same records."""
        return self._derived(with_transform(self._definition, sample_transform(probability, seed)))

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[Self, Self]:
        """Two datasets: about ``percentage`` of the records, and the others. The same ``seed``, the same split."""
        first, second = split_transforms(percentage, seed)
        return self._derived(with_transform(self._definition, first)), self._derived(
            with_transform(self._definition, second)
        )

    def _derived(self, definition: dict[str, Any]) -> Any:
        """A new, unregistered dataset of the same class with ``definition`` (as Azure ML's transforms give)."""
        return type(self)(definition)


def dataset_from_definition(
    definition: dict[str, Any], registration: DatasetRegistration | None = None
) -> AbstractDataset:
    """The FileDataset or TabularDataset of ``definition`` (the runtime and the YAML loader rebuild with it)."""
    from amlflow.data.file_dataset import FileDataset
    from amlflow.data.tabular_dataset import TabularDataset

    checked = checked_definition(definition)
    cls = {FILE: FileDataset, TABULAR: TabularDataset}[checked["type"]]
    return cls(checked, registration)
