"""Databricks library specifications for ``DatabricksStep``, as in ``azureml.core.databricks``.

Each turns into one entry of the Jobs API ``libraries`` list (``{"pypi": {...}}``, ``{"jar": "..."}``...).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class MavenLibrary:
    """A Maven library for a Databricks cluster: coordinates, repository and excluded dependencies."""

    coordinates: str
    repo: str = ""
    exclusions: list[str] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        """The library as the Databricks Libraries API's JSON."""
        body: dict[str, Any] = {"coordinates": self.coordinates}
        if self.repo:
            body["repo"] = self.repo
        if self.exclusions:
            body["exclusions"] = list(self.exclusions)
        return {"maven": body}


@dataclass(frozen=True)
class PyPiLibrary:
    """A PyPI package for a Databricks cluster, from an optional repository."""

    package: str
    repo: str = ""

    def to_api(self) -> dict[str, Any]:
        """The library as the Databricks Libraries API's JSON."""
        return {"pypi": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


@dataclass(frozen=True)
class RCranLibrary:
    """A CRAN package for a Databricks cluster, from an optional repository."""

    package: str
    repo: str = ""

    def to_api(self) -> dict[str, Any]:
        """The library as the Databricks Libraries API's JSON."""
        return {"cran": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


@dataclass(frozen=True)
class JarLibrary:
    """A jar on DBFS or cloud storage for a Databricks cluster."""

    library: str

    def to_api(self) -> dict[str, Any]:
        """The library as the Databricks Libraries API's JSON."""
        return {"jar": self.library}


@dataclass(frozen=True)
class EggLibrary:
    """A Python egg on DBFS or cloud storage for a Databricks cluster."""

    library: str

    def to_api(self) -> dict[str, Any]:
        """The library as the Databricks Libraries API's JSON."""
        return {"egg": self.library}


@dataclass(frozen=True)
class WheelLibrary:
    """A Python wheel on DBFS or cloud storage (amlflow's: Databricks replaced eggs with wheels)."""

    library: str

    def to_api(self) -> dict[str, Any]:
        """The library as the Databricks Libraries API's JSON."""
        return {"whl": self.library}


#: DatabricksStep parameter -> the class of its libraries (an item may also be a dict of its fields or a string)
LIBRARY_PARAMETERS: dict[str, type] = {
    "maven_libraries": MavenLibrary,
    "pypi_libraries": PyPiLibrary,
    "egg_libraries": EggLibrary,
    "jar_libraries": JarLibrary,
    "whl_libraries": WheelLibrary,
    "rcran_libraries": RCranLibrary,
}


def library_to_api(kind: type, item: Any) -> dict[str, Any]:
    """One library (its class, a dict of its fields, or a plain string) as a Jobs API entry."""
    library = as_library(kind, item)
    if not isinstance(library, kind):
        raise TypeError(f"{item!r} is not a {kind.__name__}, a dict of its fields or a string")
    return library.to_api()


def library_fields(library: Any) -> dict[str, Any]:
    """A library's fields, those left at their default omitted: how a YAML definition writes it."""
    written = {}
    for attribute in fields(library):
        value = getattr(library, attribute.name)
        default = attribute.default if attribute.default_factory is MISSING else attribute.default_factory()
        if value != default:
            written[attribute.name] = list(value) if isinstance(value, list | tuple) else value
    return written


def as_library(kind: type, item: Any) -> Any:
    """``item`` (a plain string or a dict of fields, as a YAML definition gives it) as a ``kind`` library."""
    if isinstance(item, str):
        return kind(item)
    if isinstance(item, dict):
        return kind(**item)
    return item
