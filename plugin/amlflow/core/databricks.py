"""Databricks library specifications for ``DatabricksStep``, as in ``azureml.core.databricks``.

Each turns into one entry of the Jobs API ``libraries`` list (``{"pypi": {...}}``, ``{"jar": "..."}``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MavenLibrary:
    coordinates: str
    repo: str = ""
    exclusions: list[str] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"coordinates": self.coordinates}
        if self.repo:
            body["repo"] = self.repo
        if self.exclusions:
            body["exclusions"] = list(self.exclusions)
        return {"maven": body}


@dataclass(frozen=True)
class PyPiLibrary:
    package: str
    repo: str = ""

    def to_api(self) -> dict[str, Any]:
        return {"pypi": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


@dataclass(frozen=True)
class RCranLibrary:
    package: str
    repo: str = ""

    def to_api(self) -> dict[str, Any]:
        return {"cran": {"package": self.package, **({"repo": self.repo} if self.repo else {})}}


@dataclass(frozen=True)
class JarLibrary:
    library: str

    def to_api(self) -> dict[str, Any]:
        return {"jar": self.library}


@dataclass(frozen=True)
class EggLibrary:
    library: str

    def to_api(self) -> dict[str, Any]:
        return {"egg": self.library}


@dataclass(frozen=True)
class WheelLibrary:
    """A Python wheel on DBFS or cloud storage (amlflow's: Databricks replaced eggs with wheels)."""

    library: str

    def to_api(self) -> dict[str, Any]:
        return {"whl": self.library}


#: DatabricksStep parameter -> (library class, the field a plain string or dict fills)
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
    if isinstance(item, kind):
        return item.to_api()
    if isinstance(item, str):
        return kind(item).to_api()
    if isinstance(item, dict):
        return kind(**item).to_api()
    raise TypeError(f"{item!r} is not a {kind.__name__}, a dict of its fields or a string")
