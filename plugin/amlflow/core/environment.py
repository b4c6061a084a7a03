"""``Environment``: what a step's code runs with (an image, pip packages, variables), as ``azureml.core``.

A step runs in its environment when it is on a ``DockerCompute`` target or its ``RunConfiguration`` asks
for Docker. The image is ``docker.base_image`` as it is, or, when the environment lists pip packages,
an image amlflow builds once from that base plus those packages and tags by a hash of its content
(``image_recipe`` says which). Azure ML's default CPU image is a name a ported pipeline keeps writing;
amlflow reads it as "the deployment's default image", ``[amlflow] docker_base_image``.

``register`` / ``get`` / ``list`` keep named, versioned environments in the default datastore
(``amlflow.core.environment_registry``); a curated ``AzureML-*`` name runs on the worker's own Python.
"""

from __future__ import annotations

import os
import re
from typing import Any

from amlflow import config
from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.exceptions import UserErrorException

#: Azure ML's default CPU base image; here it stands for ``[amlflow] docker_base_image``.
DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
#: Azure ML's default GPU base image; here, as the CPU one, the deployment's default image.
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.1-cudnn8-ubuntu20.04"
_DEFAULT_IMAGES = {DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE}


class DockerSection:
    """``Environment.docker``. Slots: a misspelt or unsupported setting fails instead of being ignored."""

    __slots__ = ("base_image", "base_image_registry", "enabled")

    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = DEFAULT_CPU_IMAGE
        self.base_image_registry: Any = None


class PythonSection:
    """``Environment.python``: the interpreter and, unless user-managed, the packages to install."""

    __slots__ = ("conda_dependencies", "interpreter_path", "user_managed_dependencies")

    def __init__(self) -> None:
        self.interpreter_path = "python"
        self.user_managed_dependencies = False
        self.conda_dependencies = CondaDependencies()


class SparkPackage:
    """A Spark package (``group:artifact:version``) for ``Environment.spark``."""

    def __init__(self, group: str | None = None, artifact: str | None = None, version: str | None = None) -> None:
        self.group = group
        self.artifact = artifact
        self.version = version


class SparkSection:
    """``Environment.spark``: Spark repositories and packages, for steps that run on Spark.

    amlflow's steps in a worker or a container have no Spark, so a section that lists anything makes
    ``Pipeline.validate()`` say so; a DatabricksStep takes its libraries as its own parameters.
    """

    __slots__ = ("packages", "precache_packages", "repositories")

    def __init__(self, **kwargs: Any) -> None:
        self.repositories: list[str] = []
        self.packages: list[SparkPackage] = []
        self.precache_packages = True


class Environment:
    """A named environment: ``Environment("sklearn")``, then set ``.docker`` and ``.python``."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        if not isinstance(name, str) or not name.strip():
            raise UserErrorException(f"Environment name must be a non-empty string, got {name!r}")
        self.name = name
        self.version: str | None = kwargs.get("version")
        self.docker = DockerSection()
        self.python = PythonSection()
        self.spark = SparkSection()
        self.environment_variables: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, base_image={self.docker.base_image!r})"

    @staticmethod
    def from_pip_requirements(name: str, file_path: str, pip_version: str | None = None) -> Environment:
        """An environment whose pip packages are the lines of a requirements file."""
        env = Environment(name)
        for requirement in _requirement_lines(file_path):
            env.python.conda_dependencies.add_pip_package(requirement)
        return env

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        """An environment named ``name`` whose conda dependencies are read from the file ``file_path``."""
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(file_path)
        return env

    @staticmethod
    def from_docker_image(
        name: str,
        image: str,
        container_registry: Any = None,
        conda_specification: str | None = None,
        pip_requirements: str | None = None,
    ) -> Environment:
        """An environment that is an image; with no packages given, its Python is used as it is."""
        env = Environment(name)
        env.docker.base_image = image
        env.docker.base_image_registry = container_registry
        if conda_specification:
            env.python.conda_dependencies = CondaDependencies(conda_specification)
        if pip_requirements:
            for requirement in _requirement_lines(pip_requirements):
                env.python.conda_dependencies.add_pip_package(requirement)
        env.python.user_managed_dependencies = not (conda_specification or pip_requirements)
        return env

    def register(self, workspace: Any) -> Environment:
        """Register this environment in the workspace (its default datastore): the registered copy, with its
        version. Registering what the latest version already holds gives that version back."""
        from amlflow.core import environment_registry

        return environment_registry.register(self)

    @staticmethod
    def get(workspace: Any, name: str, version: str | None = None, label: str | None = None) -> Environment:
        """The registered environment ``name`` (its latest version unless ``version`` is given).

        A curated name (``AzureML-*``, e.g. ``AzureML-TensorFlow-2.3-GPU``) is an environment that runs on
        the worker's own Python, with nothing installed (amlflow has none of Microsoft's curated images).
        """
        from amlflow.core import environment_registry

        if label and version:
            raise UserErrorException("Only one of version or label can be specified")
        if label:
            raise UserErrorException(
                f"Environment.get({name!r}, label={label!r}): amlflow has no environment labels; "
                "give the version instead, or neither for the latest"
            )
        if environment_registry.is_curated(name):
            return environment_registry.curated(name, version)
        return environment_registry.get(name, version)

    @staticmethod
    def list(workspace: Any) -> dict[str, Environment]:
        """The registered environments (latest version of each), by name; curated ones are not listed."""
        from amlflow.core import environment_registry

        return environment_registry.list_all()

    def image_recipe(self) -> dict[str, Any]:
        """What the step's image is made of, as JSON-able operator arguments.

        ``base_image`` None means the deployment's default image (resolved when the task runs); an empty
        ``pip_packages`` means the base image is used as it is, with nothing built. With ``[amlflow]
        conda_channels`` set, the conda packages are ``conda_packages``, solved from ``conda_channels``
        when the image is made, instead of pip substitutions.
        """
        deps = self.python.conda_dependencies
        base = self.docker.base_image
        managed = not self.python.user_managed_dependencies
        channels = config.get_list("conda_channels")
        substituted = [(spec, pip_requirement(spec)) for spec in deps.conda_packages] if managed else []
        substituted = [(conda, pip) for conda, pip in substituted if pip is not None]
        # With [amlflow] conda_channels, conda packages are solved from those channels, not taken from PyPI.
        conda = [conda for conda, _ in substituted] if channels else []
        if conda:
            substituted = []
        recipe = {
            "name": self.name,
            "base_image": None if not base or base in _DEFAULT_IMAGES else base,
            "pip_packages": [*deps.pip_packages, *(pip for _, pip in substituted)] if managed else [],
            # Conda packages are installed with pip under their PyPI names (the images have no conda).
            "conda_substitutions": [list(pair) for pair in substituted],
            "pip_options": deps.pip_options if managed else [],
            "interpreter": self.python.interpreter_path or "python",
            "environment_variables": {str(k): str(v) for k, v in self.environment_variables.items()},
        }
        if conda:  # only then: the recipes (and reuse fingerprints) of other environments stay as they were
            recipe["conda_packages"] = conda
            recipe["conda_channels"] = channels
        return recipe


#: Conda specs that are not packages to install: the interpreter is the image's, pip is there already.
_NOT_INSTALLED = {"python", "pip"}


def pip_requirement(conda_spec: str) -> str | None:
    """The pip requirement for a conda package spec (``numpy=1.26`` -> ``numpy==1.26.*``); None to skip it.

    A channel prefix (``conda-forge::``) and a build string (``=py311_0``) are dropped: they mean
    nothing to pip.
    """
    spec = conda_spec.split("::", 1)[-1].strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    if match is None:
        raise UserErrorException(f"conda package {conda_spec!r} is not a package spec (name, then a version)")
    name, rest = match.groups()
    if name.lower() in _NOT_INSTALLED:
        return None
    rest = rest.replace(" ", "")
    if rest.startswith("=") and not rest.startswith("=="):  # conda's fuzzy "=1.26" is a prefix match
        version = rest[1:].split("=", 1)[0]
        return f"{name}=={version}.*" if version else name
    return f"{name}{rest}"


def missing_here(conda_packages: list[str], pip_packages: list[str]) -> list[str]:
    """The packages (conda specs, pip requirements) this Python lacks, or has at a version they exclude.

    Checked where a pipeline is validated: on the deployment (the dag-processor, as the workers are
    installed) and on the machine that submits it.
    """
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import InvalidRequirement, Requirement

    wanted = [(spec, pip_requirement(spec)) for spec in conda_packages] + [(spec, spec) for spec in pip_packages]
    missing = []
    for given, requirement in wanted:
        if requirement is None:
            continue
        try:
            parsed = Requirement(requirement)
            if not parsed.specifier.contains(version(parsed.name), prereleases=True):
                missing.append(given)
        except (PackageNotFoundError, InvalidRequirement):
            missing.append(given)
    return missing


def _requirement_lines(file_path: str) -> list[str]:
    try:
        with open(file_path) as handle:
            lines = [line.split("#", 1)[0].strip() for line in handle]
    except FileNotFoundError:
        raise UserErrorException(f"pip requirements file not found: {os.path.abspath(file_path)}") from None
    return [line for line in lines if line and not line.startswith("-")]
