"""``DockerStepOperator``: a PythonScriptStep run in a container of its environment's image.

Everything around the script is the local operator's (inputs, snapshot, reuse, output commit,
artifacts): this class only replaces how the script runs. The container is the docker provider's
(``DockerOperator`` with its ``DockerHook``): same argv and ``AZUREML_*`` / ``AML_PARAMETER_*``
variables as on local compute, because every path the script gets (its snapshot, inputs, staged
outputs, artifact folder) is bind-mounted at the same path inside the container. So the engine must
see the worker's files at the same paths: an engine on the worker's machine, or a containerized worker
whose datastore root and temp folder are mounted at identical paths (``docker/`` does that).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from docker.errors import APIError
from docker.types import Mount

from amlflow import config
from amlflow.operators.python_script import PythonScriptStepOperator
from amlflow.runtime.arguments import resolve_argv
from amlflow.runtime.artifacts import StepArtifacts
from amlflow.runtime.images import ensure_image
from amlflow.runtime.script import KILL_GRACE_SECONDS


class DockerStepOperator(PythonScriptStepOperator, DockerOperator):
    """Run a PythonScriptStep's script in a container of its environment's image.

    :param environment_recipe: the image recipe (``Environment.image_recipe()``): base image, pip packages,
        interpreter, environment variables.
    :param docker_url: the Docker engine (None: ``DOCKER_HOST``, else the local socket).
    :param docker_conn_id: Airflow ``docker`` connection with registry credentials, if pulls need a login.
    :param network_mode: the container's network (None: the engine's default).

    Other parameters are the local operator's (``PythonScriptStepOperator``).
    """

    template_fields: Sequence[str] = PythonScriptStepOperator.template_fields
    template_fields_renderers = PythonScriptStepOperator.template_fields_renderers
    # DockerOperator reads templated strings ending in .sh/.env as files; an argument never is one.
    template_ext: Sequence[str] = ()
    ui_color = "#d6ecff"

    def __init__(
        self,
        *,
        environment_recipe: dict[str, Any],
        docker_url: str | None = None,
        docker_conn_id: str | None = None,
        network_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            image=environment_recipe.get("base_image") or config.get("docker_base_image"),
            docker_url=docker_url,
            docker_conn_id=docker_conn_id,
            network_mode=network_mode,
            mount_tmp_dir=False,
            auto_remove="never",  # removed by _run_script once its logs are read
            do_xcom_push=False,
            **kwargs,
        )
        self.environment_recipe = environment_recipe

    def _run_script(
        self,
        cwd: str,
        input_paths: dict[str, str],
        output_paths: dict[str, str],
        artifacts: StepArtifacts,
        aml_env: dict[str, str],
    ) -> None:
        recipe = self.environment_recipe
        argv = resolve_argv(self.arguments, input_paths, output_paths)
        self.image = ensure_image(self.cli, recipe, self.log)
        self.command = self.process_argv(cwd, argv, recipe["interpreter"])
        self.working_dir = cwd
        # The image's own environment, what the step's environment declares, and Azure ML's: nothing of
        # the worker's.
        self.environment = {
            **recipe["environment_variables"],
            **aml_env,
            "PYTHONUNBUFFERED": "1",  # lines reach the task log as they are printed, not at exit
        }
        self.mounts = _bind_mounts(
            writable=[cwd, artifacts.folder, *output_paths.values()], read_only=list(input_paths.values())
        )
        # Files the script writes belong to the worker's user, which commits and later deletes them.
        self.user = f"{os.getuid()}:{os.getgid()}"
        self.labels = {
            "amlflow.dag_id": self.dag_id,
            "amlflow.task_id": self.task_id,
            "amlflow.step_run_id": aml_env["AZUREML_RUN_ID"],
        }
        self._remove_containers_of_killed_tries()
        self.log.info(
            "Running %s %s in a container of %s (snapshot of %s)",
            self.script_name,
            " ".join(argv),
            self.image,
            self.source_directory,
        )
        self.container = None
        try:
            DockerOperator.execute(self, {})
        except DockerContainerFailedException:
            if self._stopping:
                raise self.interruption() from None
            code = self.cli.inspect_container(self.container["Id"])["State"]["ExitCode"]
            what = f"{self.script_name} exited with code {code} in container {self.container['Id'][:12]} ({self.image})"
            raise self.script_failure(what, self._stderr_tail()) from None
        finally:
            if self.container is not None:
                self._keep_logs(artifacts)
                self.cli.remove_container(self.container["Id"], force=True)

    def _remove_containers_of_killed_tries(self) -> None:
        """A task killed with SIGKILL can not stop its container: the next try of the step does."""
        filters = {"label": [f"{key}={value}" for key, value in self.labels.items()]}
        for container in self.cli.containers(all=True, filters=filters):
            self.log.warning(
                "Removing container %s of an earlier try of this step that was killed", container["Id"][:12]
            )
            self.cli.remove_container(container["Id"], force=True)

    def _stderr_tail(self) -> str:
        lines = config.get_int("stderr_tail_lines")
        raw = self.cli.logs(self.container["Id"], stdout=False, stderr=True, tail=lines)
        return raw.decode(errors="replace").rstrip("\n")

    def _keep_logs(self, artifacts: StepArtifacts) -> None:
        """The container's stdout and stderr, from the engine, as the run's log artifacts."""
        for path, is_stderr in zip(artifacts.log_files, (False, True), strict=True):
            with open(path, "wb") as handle:
                handle.write(self.cli.logs(self.container["Id"], stdout=not is_stderr, stderr=is_stderr))

    def on_kill(self) -> None:
        """Stop the container: SIGTERM, then SIGKILL after the grace period local steps get too."""
        self._stopping = True
        if self.container is None:
            return
        self.log.info("Stopping container %s", self.container["Id"][:12])
        try:
            self.cli.stop(self.container["Id"], timeout=KILL_GRACE_SECONDS)
        except APIError as error:  # it may have ended on its own meanwhile
            self.log.info("Container %s: %s", self.container["Id"][:12], error)


def _bind_mounts(writable: list[str], read_only: list[str]) -> list[Mount]:
    """Each path mounted at the same path in the container; inputs read-only, as Azure ML mounts them."""
    mounts: dict[str, Mount] = {}
    for path in writable:
        mounts.setdefault(path, Mount(target=path, source=path, type="bind"))
    for path in read_only:
        mounts.setdefault(path, Mount(target=path, source=path, type="bind", read_only=True))
    return list(mounts.values())
