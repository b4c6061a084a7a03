"""Whether a PythonScriptStep runs in a container, and the container arguments of its operator.

A step runs in a container when its compute target is a ``DockerCompute``, or when its
``RunConfiguration`` turns Docker on (``docker.use_docker`` or ``environment.docker.enabled``) on any
other target, whose pool and queue it keeps. Its environment is ``runconfig.environment`` (the
deployment's default image when the step has no runconfig).
"""

from __future__ import annotations

from typing import Any

from amlflow.core.compute import DockerCompute, resolve_compute
from amlflow.core.environment import Environment
from amlflow.exceptions import UserErrorException


def container_arguments(step: Any, pipeline: Any, common: dict[str, Any]) -> dict[str, Any] | None:
    """Arguments of ``DockerStepOperator`` beyond the local operator's, or None for a step run in the worker.

    The image recipe also goes into ``common["compute_target"]``: the step's reuse fingerprint covers the
    compute spec, so a changed environment is a changed step.
    """
    if not step.in_container(pipeline):
        return None
    runconfig = getattr(step, "runconfig", None)
    compute = resolve_compute(pipeline.workspace, getattr(step, "compute_target", None))
    environment = getattr(runconfig, "environment", None) or Environment("default")
    try:
        recipe = environment.image_recipe()
    except UserErrorException as error:
        raise UserErrorException(f"step {step.name!r}, field 'runconfig': {error}") from None
    common["compute_target"] = {**(common.get("compute_target") or {"name": "local", "type": "local"})}
    common["compute_target"]["environment"] = recipe
    if isinstance(compute, DockerCompute):
        return {
            "environment_recipe": recipe,
            "docker_url": compute.docker_url,
            "docker_conn_id": compute.docker_conn_id,
            "network_mode": compute.network_mode,
        }
    return {"environment_recipe": recipe}
