"""``CondaDependencies``: the packages of a step's environment, as ``azureml.core.conda_dependencies``.

The object is the conda environment file Azure ML writes (``name``, ``channels``, ``dependencies`` with a
``pip:`` sub-list), so a file saved by either reads in the other. On Docker compute amlflow installs the
pip packages into the step's image; conda packages need conda, which the images amlflow builds do not
have, so a step that asks for them is refused when its DAG is built (see ``Environment.image_recipe``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from amlflow.exceptions import UserErrorException

#: A conda dependency naming the interpreter: ``python``, ``python=3.11``, ``python>=3.10`` ...
_PYTHON = re.compile(r"^python\s*([=<>!~].*)?$")


class CondaDependencies:
    """The conda and pip packages of an environment. ``CondaDependencies.create(pip_packages=[...])``."""

    DEFAULT_NAME = "project_environment"

    def __init__(self, conda_dependencies_file_path: str | None = None, _underlying_structure: Any = None) -> None:
        if conda_dependencies_file_path is not None:
            _underlying_structure = _read_yaml(conda_dependencies_file_path)
        structure = copy.deepcopy(_underlying_structure) if _underlying_structure else {}
        if not isinstance(structure, dict):
            raise UserErrorException(
                f"conda dependencies {conda_dependencies_file_path or ''!s}: expected a mapping with "
                f"'dependencies', got {type(structure).__name__}"
            )
        self._name = str(structure.get("name") or self.DEFAULT_NAME)
        self._channels: list[str] = [str(c) for c in structure.get("channels") or []]
        self._conda: list[str] = []
        self._pip: list[str] = []
        self._pip_options: list[str] = []
        for dependency in structure.get("dependencies") or []:
            if isinstance(dependency, dict) and "pip" in dependency:
                for item in dependency["pip"] or []:
                    # Azure ML keeps pip options (--index-url ...) in the same list as the packages.
                    (self._pip_options if str(item).startswith("-") else self._pip).append(str(item))
            elif isinstance(dependency, str):
                self._conda.append(dependency)
            else:
                raise UserErrorException(f"conda dependencies: entry {dependency!r} is neither a package nor 'pip:'")

    @staticmethod
    def create(
        pip_indexurl: str | None = None,
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = None,
        pin_sdk_version: bool = True,
    ) -> CondaDependencies:
        """Azure ML's factory. Unlike Azure ML it adds no ``azureml-defaults``: there is no SDK to pin."""
        deps = CondaDependencies()
        if python_version:
            deps.set_python_version(python_version)
        for package in conda_packages or []:
            deps.add_conda_package(package)
        for package in pip_packages or []:
            deps.add_pip_package(package)
        if pip_indexurl:
            deps.set_pip_option(f"--index-url {pip_indexurl}")
        return deps

    # -- packages ----------------------------------------------------------------------------------
    @property
    def conda_packages(self) -> list[str]:
        """Conda packages, without the ``python`` entry (``get_python_version`` has that)."""
        return [p for p in self._conda if not _PYTHON.match(p)]

    @property
    def pip_packages(self) -> list[str]:
        """Pip packages, as specs."""
        return list(self._pip)

    @property
    def conda_channels(self) -> list[str]:
        """Conda channels, in order."""
        return list(self._channels)

    @property
    def pip_options(self) -> list[str]:
        """Pip options (``--index-url ...``), written before the pip packages."""
        return list(self._pip_options)

    def add_conda_package(self, conda_package: str) -> None:
        """Add a conda package, replacing any spec of the same package."""
        _check_spec("conda", conda_package)
        self._replace(self._conda, conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        """Remove every spec of the conda package (the version in ``conda_package`` is ignored)."""
        self._conda[:] = [p for p in self._conda if _package_name(p) != _package_name(conda_package)]

    def add_pip_package(self, pip_package: str) -> None:
        """Add a pip requirement (``name``, ``name==1.2``, ...); one with the same name is replaced."""
        _check_spec("pip", pip_package)
        self._replace(self._pip, pip_package)

    def remove_pip_package(self, pip_package: str) -> None:
        """Remove every spec of the pip package (the version in ``pip_package`` is ignored)."""
        self._pip[:] = [p for p in self._pip if _package_name(p) != _package_name(pip_package)]

    def add_channel(self, channel: str) -> None:
        """Add a conda channel, once."""
        if channel not in self._channels:
            self._channels.append(channel)

    def set_pip_option(self, pip_option: str) -> None:
        """Add a pip option, once."""
        if pip_option not in self._pip_options:
            self._pip_options.append(pip_option)

    def get_python_version(self) -> str | None:
        """The version of the ``python`` conda entry, or None if it has none (or names no version)."""
        for package in self._conda:
            match = _PYTHON.match(package)
            if match:
                return (match.group(1) or "").lstrip("=") or None
        return None

    def set_python_version(self, version: str) -> None:
        """Pin ``python`` to ``version``, replacing any earlier pin."""
        self._replace(self._conda, f"python={version}")

    @staticmethod
    def _replace(packages: list[str], spec: str) -> None:
        name = _package_name(spec)
        for index, existing in enumerate(packages):
            if _package_name(existing) == name:
                packages[index] = spec
                return
        packages.append(spec)

    # -- the file --------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """The environment file as a dict: ``name``, ``channels``, ``dependencies`` (pip options and packages last)."""
        dependencies: list[Any] = list(self._conda)
        if self._pip or self._pip_options:
            dependencies.append({"pip": [*self._pip_options, *self._pip]})
        return {"name": self._name, "channels": list(self._channels), "dependencies": dependencies}

    def serialize_to_string(self) -> str:
        """The environment file as YAML text."""
        import yaml

        return yaml.safe_dump(self.as_dict(), sort_keys=False)

    def save(self, path: str) -> str:
        """Write the environment file to ``path``; returns ``path``."""
        with open(path, "w") as handle:
            handle.write(self.serialize_to_string())
        return path

    save_to_file = save

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CondaDependencies) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"CondaDependencies(conda_packages={self.conda_packages!r}, pip_packages={self._pip!r})"


def _package_name(spec: str) -> str:
    """The distribution name of a requirement, normalised as pip compares names."""
    name = re.split(r"[\s\[=<>!~;@]", spec.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _check_spec(kind: str, spec: Any) -> None:
    if not isinstance(spec, str) or not spec.strip() or spec.strip().startswith("-"):
        raise UserErrorException(f"{kind} package {spec!r} is invalid: expected a requirement such as 'name==1.0'")


def _read_yaml(path: str) -> Any:
    import yaml

    try:
        with open(path) as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise UserErrorException(f"conda dependencies file not found: {path}") from None
    except yaml.YAMLError as error:
        raise UserErrorException(f"conda dependencies file {path}: not valid YAML ({error})") from None
