"""Step images: a base image as it is, or a base image plus pip packages, built once and reused.

A built image is tagged ``amlflow/env:<hash>``, the hash covering the base image's id, the pip packages
and options and the interpreter, so the same environment on the same base is built once per engine and
reused by every later run; a changed base image or package list gives a new tag.

The packages are downloaded by the worker's own pip (its index, proxy and certificates apply) and
installed in the image from those files with ``--no-index``: the build needs no network and no
index credentials inside the image. Binary wheels are fetched for the worker's Python and platform,
so the base image should have the same Python minor version as the worker (pure-Python packages
work with any).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from docker.errors import DockerException

from amlflow import config
from amlflow.exceptions import StepFailedError

if TYPE_CHECKING:
    from docker import APIClient

#: Bump when the Dockerfile below changes, so images built by an older recipe are not reused.
RECIPE_VERSION = "1"
IMAGE_REPOSITORY = "amlflow/env"

DOCKERFILE = """\
FROM {base}
COPY wheels /tmp/amlflow-wheels
RUN PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \\
    {interpreter} -m pip install --no-index --no-cache-dir --find-links /tmp/amlflow-wheels {packages} \\
 && rm -rf /tmp/amlflow-wheels
"""


def base_image(recipe: dict[str, Any]) -> str:
    """The recipe's base image; None stands for the deployment's default, ``[amlflow] docker_base_image``."""
    return recipe.get("base_image") or config.get("docker_base_image")


def ensure_image(client: APIClient, recipe: dict[str, Any], log: logging.Logger) -> str:
    """The image a step of this environment runs in, built now if no engine build of it exists yet."""
    base = base_image(recipe)
    if not recipe["pip_packages"]:
        return base
    if not client.images(name=base):
        log.info("Pulling base image %s", base)
        try:
            client.pull(base)
        except DockerException as error:
            raise StepFailedError(
                f"environment {recipe['name']!r}: base image {base} is not on the engine and could not be pulled: "
                f"{error}"
            ) from None
    tag = image_tag(client, recipe)
    if client.images(name=tag):
        log.info("Environment %r: image %s exists, reusing it", recipe["name"], tag)
        return tag
    log.info("Environment %r: building image %s from %s with %s", recipe["name"], tag, base, recipe["pip_packages"])
    for conda, pip in recipe.get("conda_substitutions", []):
        log.info("Environment %r: conda package %s is installed with pip as %s", recipe["name"], conda, pip)
    with tempfile.TemporaryDirectory(prefix="amlflow-image-") as context:
        _download_wheels(recipe, os.path.join(context, "wheels"), log)
        with open(os.path.join(context, "Dockerfile"), "w") as handle:
            handle.write(
                DOCKERFILE.format(
                    base=base,
                    interpreter=shlex.quote(recipe["interpreter"]),
                    packages=" ".join(shlex.quote(p) for p in recipe["pip_packages"]),
                )
            )
        labels = {"amlflow.environment": recipe["name"], "amlflow.base_image": base}
        # No network: everything the build installs is in the context already.
        for chunk in client.build(
            path=context, tag=tag, rm=True, forcerm=True, decode=True, network_mode="none", labels=labels
        ):
            if "error" in chunk:
                raise StepFailedError(f"environment {recipe['name']!r}: building image {tag} failed: {chunk['error']}")
            text = chunk.get("stream", "").rstrip()
            if text:
                log.info("[build] %s", text)
    return tag


def image_tag(client: APIClient, recipe: dict[str, Any]) -> str:
    """The tag of the image built for ``recipe`` on this engine, whose base image must be there.

    The environment's name is not in it: environments of the same content share one image, as Azure ML
    reuses an image whatever the environment is called.
    """
    base_id = client.inspect_image(base_image(recipe))["Id"]
    return f"{IMAGE_REPOSITORY}:{_content_hash(recipe, base_id)}"


def _content_hash(recipe: dict[str, Any], base_id: str) -> str:
    content = {
        "recipe": RECIPE_VERSION,
        "base": base_id,
        "pip_packages": recipe["pip_packages"],
        "pip_options": recipe["pip_options"],
        "interpreter": recipe["interpreter"],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:24]


def _download_wheels(recipe: dict[str, Any], dest: str, log: logging.Logger) -> None:
    options = [part for option in recipe["pip_options"] for part in shlex.split(option)]
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--dest", dest, *options]
    result = subprocess.run([*argv, *recipe["pip_packages"]], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-config.get_int("stderr_tail_lines") :])
        substituted = [conda for conda, _ in recipe.get("conda_substitutions", [])]
        hint = f" (conda packages {substituted} are looked for on PyPI under the same names)" if substituted else ""
        raise StepFailedError(
            f"environment {recipe['name']!r}: pip could not download {recipe['pip_packages']}{hint}:\n{tail}"
        )
    log.info("Downloaded %d package files for environment %r", len(os.listdir(dest)), recipe["name"])
