"""``RunConfiguration``: where and with what a step runs, as ``azureml.core.runconfig``.

amlflow reads three things from it: ``target`` (the compute target, when the step names none),
``environment`` (the step's image and packages) and whether Docker is on (``docker.use_docker``, or
the older ``environment.docker.enabled``). A step with Docker on runs in a container even on a
non-Docker target; it then keeps that target's pool and queue.
"""

from __future__ import annotations

from typing import Any

from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.core.databricks import EggLibrary, JarLibrary, MavenLibrary, PyPiLibrary, RCranLibrary
from amlflow.core.environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, Environment, SparkPackage, SparkSection
from amlflow.exceptions import UserErrorException

# Azure ML's runconfig module exports the library and Spark classes too; samples import them from here.
__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "DockerConfiguration",
    "EggLibrary",
    "JarLibrary",
    "MavenLibrary",
    "PyPiLibrary",
    "RCranLibrary",
    "RunConfiguration",
    "SparkPackage",
    "SparkSection",
]


class DockerConfiguration:
    """``RunConfiguration.docker`` (Azure ML SDK 1.34 and later): whether and how to run in Docker."""

    def __init__(
        self,
        use_docker: bool = False,
        arguments: list[str] | None = None,
        shared_volumes: bool = True,
        shm_size: str | None = None,
    ) -> None:
        # Extra ``docker run`` arguments and a shared-memory size are not applied by amlflow: refuse them
        # rather than run the step without them.
        if arguments or shm_size:
            raise UserErrorException(
                "DockerConfiguration: arguments and shm_size are not supported by amlflow; "
                "set only use_docker (and the environment's image)"
            )
        self.use_docker = use_docker
        self.shared_volumes = shared_volumes


class RunConfiguration:
    """Run settings of a step: ``target``, ``environment``, ``docker``, ``node_count``."""

    def __init__(
        self,
        script: str | None = None,
        arguments: list[Any] | None = None,
        framework: str | None = None,
        communicator: str | None = None,
        conda_dependencies: CondaDependencies | None = None,
        _history_enabled: bool | None = None,
        _path: str | None = None,
        _name: str | None = None,
        command: str | list[str] | None = None,
    ) -> None:
        self.script = script
        self.arguments = list(arguments or [])
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.command = command
        self.target: Any = "local"
        self.node_count = 1
        # Azure ML's name whatever ``_name`` (that names the runconfig file): it labels the step's image.
        self.environment = Environment("default-environment")
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.docker = DockerConfiguration()

    @property
    def uses_docker(self) -> bool:
        return bool(self.docker.use_docker or self.environment.docker.enabled)

    def __repr__(self) -> str:
        return f"RunConfiguration(target={self.target!r}, environment={self.environment!r})"
