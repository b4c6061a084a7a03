"""A step's ``RunConfiguration`` in a YAML definition: what amlflow reads of one, as a mapping, and back.

Only what amlflow acts on travels: the ``target``, whether Docker is on, and the environment (its name,
base image, interpreter, packages, variables, Spark section). A YAML step's ``runconfig`` is that mapping::

    runconfig:
      docker: {use_docker: true}
      environment:
        name: sklearn
        docker: {base_image: python:3.11-slim-bookworm}
        python: {conda_dependencies: {dependencies: [scikit-learn, {pip: [tabulate==0.9.0]}]}}
        environment_variables: {MODE: fast}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.core.environment import DEFAULT_CPU_IMAGE, Environment, SparkPackage
from amlflow.core.runconfig import RunConfiguration

#: The JSON Schema of a step's ``runconfig``.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "RunConfiguration: target, docker.use_docker and the environment.",
    "properties": {
        "target": {"type": "string", "description": "Compute target name, or $compute.<name>."},
        "docker": {"type": "object", "additionalProperties": False, "properties": {"use_docker": {"type": "boolean"}}},
        "environment": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "docker": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"enabled": {"type": "boolean"}, "base_image": {"type": ["string", "null"]}},
                },
                "python": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "user_managed_dependencies": {"type": "boolean"},
                        "interpreter_path": {"type": "string"},
                        "conda_dependencies": {"type": "object", "description": "A conda environment file."},
                    },
                },
                "environment_variables": {"type": "object", "additionalProperties": {"type": "string"}},
                "spark": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "repositories": {"type": "array", "items": {"type": "string"}},
                        "packages": {"type": "array", "items": {"type": "object"}},
                        "precache_packages": {"type": "boolean"},
                    },
                },
            },
        },
    },
}


def runconfig_spec(runconfig: RunConfiguration, value_of: Callable[[Any], Any]) -> dict[str, Any]:
    """The mapping of ``runconfig``; ``value_of`` writes its compute target (a reference or a name)."""
    spec: dict[str, Any] = {}
    if runconfig.target not in (None, "local"):
        spec["target"] = value_of(runconfig.target)
    if runconfig.docker.use_docker:
        spec["docker"] = {"use_docker": True}
    spec["environment"] = environment_spec(runconfig.environment)
    return spec


def environment_spec(env: Environment) -> dict[str, Any]:
    """The mapping of an ``Environment`` (what differs from a new one's defaults, and its name)."""
    environment: dict[str, Any] = {"name": env.name}
    docker = {"enabled": env.docker.enabled} if env.docker.enabled else {}
    if env.docker.base_image != DEFAULT_CPU_IMAGE:
        docker["base_image"] = env.docker.base_image
    if docker:
        environment["docker"] = docker
    python: dict[str, Any] = {}
    if env.python.user_managed_dependencies:
        python["user_managed_dependencies"] = True
    if env.python.interpreter_path != "python":
        python["interpreter_path"] = env.python.interpreter_path
    deps = env.python.conda_dependencies
    if deps.conda_packages or deps.pip_packages or deps.pip_options or deps.conda_channels:
        python["conda_dependencies"] = deps.as_dict()
    if python:
        environment["python"] = python
    if env.environment_variables:
        environment["environment_variables"] = {str(k): str(v) for k, v in env.environment_variables.items()}
    spark = env.spark
    if spark.repositories or spark.packages or not spark.precache_packages:
        environment["spark"] = {
            "repositories": list(spark.repositories),
            "packages": [{"group": p.group, "artifact": p.artifact, "version": p.version} for p in spark.packages],
            "precache_packages": spark.precache_packages,
        }
    return environment


def runconfig_from_spec(spec: dict[str, Any]) -> RunConfiguration:
    """The RunConfiguration a mapping of :func:`runconfig_spec` describes (its target already resolved)."""
    runconfig = RunConfiguration()
    if "target" in spec:
        runconfig.target = spec["target"]
    runconfig.docker.use_docker = bool((spec.get("docker") or {}).get("use_docker"))
    runconfig.environment = environment_from_spec(spec.get("environment") or {}, runconfig.environment)
    return runconfig


def environment_from_spec(environment: dict[str, Any], env: Environment | None = None) -> Environment:
    """The ``Environment`` a mapping of :func:`environment_spec` describes (filling ``env`` when given)."""
    env = env if env is not None else Environment(environment.get("name") or "Experiment")
    env.name = environment.get("name") or env.name
    docker = environment.get("docker") or {}
    env.docker.enabled = bool(docker.get("enabled"))
    if "base_image" in docker:
        env.docker.base_image = docker["base_image"]
    python = environment.get("python") or {}
    env.python.user_managed_dependencies = bool(python.get("user_managed_dependencies"))
    env.python.interpreter_path = python.get("interpreter_path") or "python"
    if python.get("conda_dependencies"):
        env.python.conda_dependencies = CondaDependencies(_underlying_structure=python["conda_dependencies"])
    env.environment_variables = dict(environment.get("environment_variables") or {})
    spark = environment.get("spark") or {}
    env.spark.repositories = list(spark.get("repositories") or [])
    env.spark.packages = [SparkPackage(**package) for package in spark.get("packages") or []]
    env.spark.precache_packages = spark.get("precache_packages", True)
    return env
