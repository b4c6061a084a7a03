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
    "MpiConfiguration",
    "PyPiLibrary",
    "PyTorchConfiguration",
    "RCranLibrary",
    "RunConfiguration",
    "SparkPackage",
    "SparkSection",
    "TensorflowConfiguration",
]

#: PyTorch's communication backends, as Azure ML accepts them (any case)
SUPPORTED_PYTORCH_BACKENDS = ("nccl", "gloo")


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


class TensorflowConfiguration:
    """Distributed TensorFlow (parameter server): ``worker_count`` workers and ``parameter_server_count`` servers.

    amlflow runs a step as one process, so a step refuses one of these that asks for more than one task
    (``distributed_problem``); it is here so that ported code constructs as it did.
    """

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count


class MpiConfiguration:
    """Distributed MPI: ``node_count`` nodes with ``process_count_per_node`` processes each (see above)."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count


class PyTorchConfiguration:
    """Distributed PyTorch: ``process_count`` processes (default: one per node) on ``node_count`` nodes."""

    def __init__(self, communication_backend: str = "Nccl", process_count: int | None = None, node_count: int = 1):
        if communication_backend.lower() not in SUPPORTED_PYTORCH_BACKENDS:
            raise UserErrorException(
                f"{communication_backend} is not a supported backend. 'communication_backend' must be 'Nccl' or 'Gloo'."
            )
        self.communication_backend = communication_backend.lower()
        self.process_count = process_count
        self.node_count = node_count


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
        # Azure ML's sections; which one applies is said by ``framework`` and ``communicator``.
        self.tensorflow = TensorflowConfiguration()
        self.mpi = MpiConfiguration()
        self.pytorch = PyTorchConfiguration()
        # Azure ML's name whatever ``_name`` (that names the runconfig file): it labels the step's image.
        self.environment = Environment("default-environment")
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.docker = DockerConfiguration()

    @property
    def uses_docker(self) -> bool:
        """Whether the step runs in a Docker container (the run configuration or its environment says so)."""
        return bool(self.docker.use_docker or self.environment.docker.enabled)

    def __repr__(self) -> str:
        return f"RunConfiguration(target={self.target!r}, environment={self.environment!r})"


def process_count(runconfig: Any) -> int:
    """How many processes Azure ML would start for ``runconfig``: its distributed section's, or one per node."""
    nodes = int(getattr(runconfig, "node_count", 1) or 1)
    framework = str(getattr(runconfig, "framework", "Python")).lower()
    communicator = str(getattr(runconfig, "communicator", "None")).lower()
    if framework == "tensorflow" and communicator == "parameterserver":
        tensorflow = runconfig.tensorflow
        return int(tensorflow.worker_count or 0) + int(tensorflow.parameter_server_count or 0)
    if framework == "pytorch":
        return max(nodes, int(runconfig.pytorch.process_count or 0))
    if communicator in ("intelmpi", "openmpi", "mpi"):
        return nodes * int(runconfig.mpi.process_count_per_node or 1)
    return nodes


def distributed_problem(runconfig: Any) -> str | None:
    """Why amlflow can not run ``runconfig`` (distributed training on several nodes or processes), or None.

    A step runs as one process in one worker (or one container): it has no MPI launcher, no parameter
    servers and no second node, so asking for them is refused rather than run on one process.
    """
    if runconfig is None or process_count(runconfig) <= 1:
        return None
    return (
        f"distributed training ({process_count(runconfig)} processes, node_count={runconfig.node_count}) is not "
        "supported by amlflow, which runs a step as one process: drop distributed_job_config (or set node_count=1 "
        "and one process) to train on one node; split the data into mini-batches with a ParallelRunStep to use "
        "many workers; or run Spark code in a DatabricksStep"
    )
