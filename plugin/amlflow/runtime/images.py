"""Step images: a base image as it is, or a base image plus pip packages, built once and reused.

A built image is tagged ``amlflow/env:<hash>``, the hash covering the base image's id, the pip packages
and options and the interpreter, so the same environment on the same base is built once per engine and
reused by every later run; a changed base image or package list gives a new tag.

The packages are downloaded by the worker's own pip (its index, proxy and certificates apply) and
installed in the image from those files with ``--no-index``: the build needs no network and no
index credentials inside the image. Binary wheels are fetched for the worker's Python and platform,
so the base image should have the same Python minor version as the worker (pure-Python packages
work with any).

With ``[amlflow] conda_channels`` set, an environment's conda packages are solved from those channels
by py-rattler on the worker and installed there into a prefix (the worker downloads them, as it does
the wheels), which the image gets as ``/opt/amlflow-conda``, its ``site-packages`` on ``PYTHONPATH``
and its ``bin`` on ``PATH``. The image's Python stands in for conda's ``python`` package: a
placeholder package of the worker's Python version, from a channel of its own listed first, so
``noarch: python`` packages link for that version and no interpreter is installed. The tag's hash
covers the solved packages (name, version, build, URL, checksum).
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

#: Where the conda packages solved from ``[amlflow] conda_channels`` are in the image.
CONDA_PREFIX = "/opt/amlflow-conda"

CONDA_DOCKERFILE = """\
COPY conda {prefix}
ENV PYTHONPATH={site_packages}${{PYTHONPATH:+:$PYTHONPATH}} PATH={prefix}/bin:$PATH
"""

DOCKERFILE = """\
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
    if not recipe["pip_packages"] and not recipe.get("conda_packages"):
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
    solved = _solve_conda(recipe, log) if recipe.get("conda_packages") else []
    tag = image_tag(client, recipe, solved)
    if client.images(name=tag):
        log.info("Environment %r: image %s exists, reusing it", recipe["name"], tag)
        return tag
    log.info("Environment %r: building image %s from %s with %s", recipe["name"], tag, base, recipe["pip_packages"])
    for conda, pip in recipe.get("conda_substitutions", []):
        log.info("Environment %r: conda package %s is installed with pip as %s", recipe["name"], conda, pip)
    with tempfile.TemporaryDirectory(prefix="amlflow-image-") as context:
        dockerfile = f"FROM {base}\n"
        if solved:
            site_packages = _install_conda(recipe, solved, os.path.join(context, "conda"))
            dockerfile += CONDA_DOCKERFILE.format(prefix=CONDA_PREFIX, site_packages=site_packages)
        if recipe["pip_packages"]:
            _download_wheels(recipe, os.path.join(context, "wheels"), log)
            dockerfile += DOCKERFILE.format(
                interpreter=shlex.quote(recipe["interpreter"]),
                packages=" ".join(shlex.quote(p) for p in recipe["pip_packages"]),
            )
        with open(os.path.join(context, "Dockerfile"), "w") as handle:
            handle.write(dockerfile)
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


def image_tag(client: APIClient, recipe: dict[str, Any], solved: list[Any] | None = None) -> str:
    """The tag of the image built for ``recipe`` on this engine, whose base image must be there.

    The environment's name is not in it: environments of the same content share one image, as Azure ML
    reuses an image whatever the environment is called. ``solved``: the recipe's conda packages as
    solved from the channels (``_solve_conda``), which the hash covers.
    """
    base_id = client.inspect_image(base_image(recipe))["Id"]
    return f"{IMAGE_REPOSITORY}:{_content_hash(recipe, base_id, solved or [])}"


def _content_hash(recipe: dict[str, Any], base_id: str, solved: list[Any]) -> str:
    content: dict[str, Any] = {
        "recipe": RECIPE_VERSION,
        "base": base_id,
        "pip_packages": recipe["pip_packages"],
        "pip_options": recipe["pip_options"],
        "interpreter": recipe["interpreter"],
    }
    if solved:  # only then: images of pip-only environments keep their tags
        # The Python version too: noarch python packages are linked into its lib/pythonX.Y/site-packages.
        content["conda"] = [f"python={_python_version()}", *sorted(_describe(record) for record in solved)]
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


def _python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _describe(record: Any) -> str:
    sha256 = record.sha256.hex() if record.sha256 else ""
    return f"{record.name.normalized}={record.version}={record.build} {record.url} {sha256}"


def _solve_conda(recipe: dict[str, Any], log: logging.Logger) -> list[Any]:
    """The recipe's conda packages solved from its channels, with the image's Python as conda's ``python``."""
    import asyncio

    import rattler

    with tempfile.TemporaryDirectory(prefix="amlflow-python-channel-") as channel:
        _python_placeholder_channel(channel)
        sources = [f"file://{channel}", *recipe["conda_channels"]]
        specs = [*recipe["conda_packages"], f"python =={_python_version()}"]
        try:
            records = asyncio.run(rattler.solve(sources=sources, specs=specs, channel_relations="disabled"))
        except Exception as error:  # rattler's errors (no such package, unreachable channel) share no base
            raise StepFailedError(
                f"environment {recipe['name']!r}: conda packages {recipe['conda_packages']} could not be solved "
                f"from {recipe['conda_channels']}: {error}"
            ) from None
    records = [record for record in records if record.name.normalized != "python"]
    for record in records:
        log.info(
            "Environment %r: conda package %s %s (%s) solved from %s",
            recipe["name"],
            record.name.normalized,
            record.version,
            record.build,
            record.channel,
        )
    return records


def _install_conda(recipe: dict[str, Any], records: list[Any], prefix: str) -> str:
    """Install solved packages into ``prefix`` (as if at ``CONDA_PREFIX``); their site-packages in the image."""
    import asyncio

    import rattler

    with tempfile.TemporaryDirectory(prefix="amlflow-python-channel-") as channel:
        _python_placeholder_channel(channel)
        python = asyncio.run(rattler.solve(sources=[f"file://{channel}"], specs=[f"python =={_python_version()}"]))
        try:
            asyncio.run(
                rattler.install(
                    [*python, *records],
                    prefix,
                    cache_dir=os.path.join(channel, "cache"),
                    show_progress=False,
                    alternative_target_prefix=CONDA_PREFIX,
                )
            )
        except Exception as error:
            raise StepFailedError(
                f"environment {recipe['name']!r}: conda packages could not be installed: {error}"
            ) from None
    major, minor = sys.version_info[:2]
    return f"{CONDA_PREFIX}/lib/python{major}.{minor}/site-packages"


def _python_placeholder_channel(channel: str) -> None:
    """A channel with one empty ``python`` package of the worker's version: the image's Python."""
    import asyncio
    import io
    import tarfile

    from rattler.index import index_fs

    version = _python_version()
    marker = b"The image's own Python stands for this package.\n"
    files = {
        "info/index.json": json.dumps(
            {"name": "python", "version": version, "build": "0", "build_number": 0, "depends": [], "subdir": "noarch"}
        ).encode(),
        "info/paths.json": json.dumps(
            {
                "paths_version": 1,
                "paths": [
                    {
                        "_path": "conda-meta/amlflow-image-python",
                        "path_type": "hardlink",
                        "sha256": hashlib.sha256(marker).hexdigest(),
                        "size_in_bytes": len(marker),
                    }
                ],
            }
        ).encode(),
        "conda-meta/amlflow-image-python": marker,
    }
    os.makedirs(os.path.join(channel, "noarch"))
    with tarfile.open(os.path.join(channel, "noarch", f"python-{version}-0.tar.bz2"), "w:bz2") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    asyncio.run(index_fs(channel, write_zst=False, write_shards=False))
