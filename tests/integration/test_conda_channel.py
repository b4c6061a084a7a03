"""A container step's conda packages, solved from a conda channel of ``[amlflow] conda_channels``.

The test builds a local ``file://`` channel holding one ``noarch: python`` package (``amlflowdemo``,
indexed with py-rattler), and a step whose runconfig turns Docker on and lists
``conda_packages=["amlflowdemo=1.0"]`` imports it in its container: solved on the worker, installed
into the image's ``/opt/amlflow-conda``, on its PYTHONPATH, and named in the task log.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
import textwrap

import pytest

from tests.conftest import DAGS
from tests.pipelines import local_output, output_location, run_dag, task_states

pytestmark = pytest.mark.integration

DAG_FILE = os.path.join(DAGS, "conda_channel_pipelines.py")
ENVIRONMENT = "conda-channel-test"

SCRIPT = """
    import json, os, sys
    import amlflowdemo
    os.makedirs(sys.argv[1], exist_ok=True)
    with open(os.path.join(sys.argv[1], "demo.json"), "w") as handle:
        json.dump({"greeting": amlflowdemo.GREETING, "file": amlflowdemo.__file__}, handle)
"""

PIPELINES = f"""
import os

from amlflow.core import Datastore, Workspace
from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.core.runconfig import RunConfiguration
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
run_config = RunConfiguration(conda_dependencies=CondaDependencies.create(conda_packages=["amlflowdemo=1.0"]))
run_config.environment.name = {ENVIRONMENT!r}
run_config.environment.docker.enabled = True
out = PipelineData("out", store)
step = PythonScriptStep("demo.py", arguments=[out], outputs=[out], runconfig=run_config, allow_reuse=False,
                        source_directory=os.path.join(os.path.dirname(__file__), "conda_channel_scripts"))
Pipeline(ws, [step]).publish(name="conda_channel_step")
"""


def build_channel(root: str) -> str:
    """A conda channel in ``root`` with ``amlflowdemo 1.0`` (noarch: python), indexed by py-rattler."""
    from rattler.index import index_fs

    module = b"GREETING = 'hello from a conda channel'\n"
    files = {"site-packages/amlflowdemo/__init__.py": module}
    index = {
        "name": "amlflowdemo",
        "version": "1.0",
        "build": "pyh_0",
        "build_number": 0,
        "depends": ["python >=3.8"],
        "noarch": "python",
        "subdir": "noarch",
        "license": "Apache-2.0",
    }
    paths = [
        {"_path": path, "path_type": "hardlink", "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}
        for path, data in files.items()
    ]
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps({"paths_version": 1, "paths": paths}).encode(),
        **files,
    }
    os.makedirs(os.path.join(root, "noarch"))
    with tarfile.open(os.path.join(root, "noarch", "amlflowdemo-1.0-pyh_0.tar.bz2"), "w:bz2") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    asyncio.run(index_fs(root, write_zst=False, write_shards=False))
    assert os.path.exists(os.path.join(root, "noarch", "repodata.json"))
    return f"file://{root}"


@pytest.fixture(scope="module")
def pipelines(docker_engine, dags_folder):
    scripts = os.path.join(DAGS, "conda_channel_scripts")
    os.makedirs(scripts, exist_ok=True)
    with open(os.path.join(scripts, "demo.py"), "w") as handle:
        handle.write(textwrap.dedent(SCRIPT))
    with open(DAG_FILE, "w") as handle:
        handle.write(PIPELINES)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("conda_channel_scripts/\n")
    return DAG_FILE


def test_a_conda_package_from_a_local_channel_is_importable_in_the_step_container(
    pipelines, docker_engine, tmp_path, monkeypatch, capfd
):
    client = docker_engine.client()
    for image in client.images(filters={"label": f"amlflow.environment={ENVIRONMENT}"}):
        client.remove_image(image["Id"], force=True)  # images persist across sessions: start from none
    channel = build_channel(str(tmp_path / "channel"))
    monkeypatch.setenv("AIRFLOW__AMLFLOW__CONDA_CHANNELS", channel)

    run = run_dag(pipelines, "conda_channel_step")
    assert task_states(run) == {"demo.py": "success"}
    with open(os.path.join(local_output(output_location(run, "demo.py", "out")), "demo.json")) as handle:
        demo = json.load(handle)
    assert demo["greeting"] == "hello from a conda channel"
    assert demo["file"].startswith("/opt/amlflow-conda/lib/python3.")
    text = "".join(capfd.readouterr())
    assert f"conda package amlflowdemo 1.0 (pyh_0) solved from {channel}/" in text
    assert "installed with pip" not in text  # no substitution with a channel configured
    built = client.images(filters={"label": f"amlflow.environment={ENVIRONMENT}"})
    assert len(built) == 1 and built[0]["RepoTags"][0].startswith("amlflow/env:")
