"""``DataReference``: data that already lives on a datastore, as a step input (or an upload target)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from amlflow.exceptions import UserErrorException
from amlflow.storage.base import join

if TYPE_CHECKING:
    from amlflow.core.datastore import Datastore

SUPPORTED_DATAREF_MODES = ("mount", "download", "upload")


class DataReference:
    """A file or folder on a datastore.

    ``mode='mount'`` gives the step the data's path (a local datastore's folder in place; a blob prefix
    downloaded once before the step starts, since there is no blobfuse here); ``'download'`` copies it
    to ``path_on_compute`` first; ``'upload'`` uploads what the step leaves at ``path_on_compute``.
    """

    def __init__(
        self,
        datastore: Datastore,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if mode not in SUPPORTED_DATAREF_MODES:
            raise UserErrorException(
                f"DataReference {data_reference_name or path_on_datastore!r}: mode {mode!r} is not one of "
                f"{', '.join(SUPPORTED_DATAREF_MODES)}"
            )
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite
        self.data_reference_name = data_reference_name or _default_name(datastore.name, path_on_datastore)

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name}"

    def __repr__(self) -> str:
        return (
            f"$AZUREML_DATAREFERENCE_{self.data_reference_name} "
            f"(datastore={self.datastore.name!r}, path={self.path_on_datastore!r}, mode={self.mode!r})"
        )

    def _clone(self, **changes) -> DataReference:
        fields = {
            "datastore": self.datastore,
            "data_reference_name": self.data_reference_name,
            "path_on_datastore": self.path_on_datastore,
            "mode": self.mode,
            "path_on_compute": self.path_on_compute,
            "overwrite": self.overwrite,
        }
        fields.update(changes)
        return DataReference(**fields)

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        """A reference to ``path`` under this one's path, named ``data_reference_name`` (default: from datastore and
        path).
        """
        new_path = join(self.path_on_datastore or "", path or "") if path else self.path_on_datastore
        return self._clone(
            path_on_datastore=new_path,
            data_reference_name=data_reference_name or _default_name(self.datastore.name, new_path),
        )

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        """This reference, downloaded to ``path_on_compute`` before the step runs."""
        # Azure ML ignores ``overwrite`` here (the clone keeps the old value); so does amlflow.
        return self._clone(mode="download", path_on_compute=path_on_compute)

    def as_upload(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        """This reference, uploaded from ``path_on_compute`` when the step succeeds."""
        return self._clone(mode="upload", path_on_compute=path_on_compute)

    def as_mount(self) -> DataReference:
        """This reference, mounted."""
        return self._clone(mode="mount")

    @staticmethod
    def create(data_reference_name: str | None = None, datapath=None, datapath_compute_binding=None):
        """A DataReference from a DataPath and its compute binding (mode, path on compute, overwrite)."""
        binding = datapath_compute_binding
        return DataReference(
            datastore=datapath.datastore,
            data_reference_name=data_reference_name or datapath.name,
            path_on_datastore=datapath.path_on_datastore,
            mode=getattr(binding, "mode", "mount"),
            path_on_compute=getattr(binding, "path_on_compute", None),
            overwrite=getattr(binding, "overwrite", False),
        )


def _default_name(datastore_name: str, path: str | None) -> str:
    """Azure ML names an unnamed reference with a random uuid; amlflow derives one from where it points.

    A random name would change the DAG at every parse (Airflow flags it) and defeat step reuse.
    """
    if not path or path.strip() in ("/", ".", "./"):
        return datastore_name
    return "ref_" + hashlib.sha1(f"{datastore_name}/{path}".encode()).hexdigest()[:12]
