"""A registered dataset named in a DAG file: looked up when a task runs, never while the file is parsed.

``Dataset.get_by_name(ws, "x")`` at the top of a DAG file is the usual Azure ML code, but the registry
lives in the default datastore (blob storage on a real deployment), and nothing that parses a DAG file
may touch the network. So inside a parse the look-up gives this reference; the step's task resolves it
to the registered dataset of that name and version (``latest``: the latest when the task runs). Whether
it is a File or a Tabular dataset is known only then, so a mounted Tabular dataset fails at task start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig

#: What a dataset can do that needs the registered dataset itself (its definition, its files).
_NEEDS_THE_DATASET = frozenset(
    [
        "to_pandas_dataframe",
        "download",
        "mount",
        "to_path",
        "take",
        "skip",
        "take_sample",
        "random_split",
        "keep_columns",
        "drop_columns",
        "filter",
        "register",
        "localized",
        "is_single_file",
        "partition_keys",
        "description",
        "tags",
    ]
)
#: The definition ``type`` of a reference: ``{"type": "Registered", "reference": {"name", "version"} | {"id"}}``.
REGISTERED = "Registered"


class DatasetReference:
    """``name`` and ``version`` (or the saved ``id``) of a registered dataset, resolved at task time."""

    def __init__(self, name: str | None = None, version: int | str = "latest", saved_id: str | None = None) -> None:
        if not (name or saved_id):
            raise UserErrorException("a dataset reference needs a registered name or a saved id")
        self._name = name
        self._version = version
        self._id = saved_id

    @property
    def definition(self) -> dict[str, Any]:
        """The reference's definition: by id, else by name and version."""
        reference = {"id": self._id} if self._id else {"name": self._name, "version": self._version}
        return {"type": REGISTERED, "reference": reference}

    @property
    def id(self) -> str | None:
        """The saved dataset's id, or None for a reference by name."""
        return self._id

    @property
    def name(self) -> str | None:
        """The registered name, or None for a reference by id."""
        return self._name

    @property
    def version(self) -> int | None:
        """The version referred to, or None for ``latest``."""
        return self._version if isinstance(self._version, int) else None

    def __repr__(self) -> str:
        which = f"id={self._id!r}" if self._id else f"name={self._name!r}, version={self._version!r}"
        return f"DatasetReference({which}, resolved when the step runs)"

    def resolve(self) -> Any:
        """The registered dataset this names, read from the registry now."""
        from amlflow.data.abstract_dataset import AbstractDataset

        if self._id:
            return AbstractDataset.get_by_id(None, self._id)
        return AbstractDataset.get_by_name(None, self._name, self._version)

    def as_named_input(self, name: str | None) -> DatasetConsumptionConfig:
        """The referenced dataset as a step input named ``name``."""
        from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig

        return DatasetConsumptionConfig(name, self)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """The referenced dataset as a mounted step input named after it."""
        return self.as_named_input(self._name).as_mount(path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """The referenced dataset as a downloaded step input named after it."""
        return self.as_named_input(self._name).as_download(path_on_compute)

    def __getattr__(self, attribute: str) -> Any:
        # Reading the data while the DAG file is parsed is what the reference exists to prevent: say so
        # instead of an AttributeError.
        if attribute not in _NEEDS_THE_DATASET:
            raise AttributeError(attribute)
        raise UserErrorException(
            f"{self!r}: {attribute} is not available while Airflow parses a DAG file (the registry is not read "
            "there); pass the dataset to a step with as_named_input(...) and use it in the step's script"
        )


def reference_from_definition(definition: dict[str, Any]) -> DatasetReference:
    """The DatasetReference a ``registered`` definition names."""
    reference = definition["reference"]
    return DatasetReference(reference.get("name"), reference.get("version", "latest"), reference.get("id"))
