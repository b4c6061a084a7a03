"""``docker/``: the Airflow image builds from a locally made base image and runs amlflow; the compose
file is valid for Docker Compose and routes every compute target's queue to a Celery worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

COMPOSE_FILE = os.path.join(ROOT, "docker", "docker-compose.yml")
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}
IMAGE = "amlflow-test/airflow:test"


def compose_command() -> list[str] | None:
    """Docker Compose v2 (``docker compose``) if the CLI has it, else v1 (Debian's docker-compose)."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return [shutil.which("docker-compose")] if shutil.which("docker-compose") else None


def compose_config(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    command = compose_command()
    if command is None:
        pytest.skip("no Docker Compose CLI (docker compose or docker-compose); make test installs docker-compose")
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_JWT_SECRET"}
    return subprocess.run(
        [*command, "-f", COMPOSE_FILE, "config"], env={**env, **extra_env}, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def rendered() -> dict:
    """The compose file as Docker Compose resolves it (anchors merged, variables substituted)."""
    result = compose_config({"AIRFLOW_JWT_SECRET": "test-secret"})
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_config_accepts_the_file_and_requires_the_shared_secret(rendered):
    missing = compose_config({})
    assert missing.returncode != 0
    assert "set AIRFLOW_JWT_SECRET" in missing.stderr
    assert {"postgres", "redis", "azurite", "airflow-init"} <= set(rendered["services"])


def test_every_airflow_component_runs_the_amlflow_image_on_celery(rendered):
    services = rendered["services"]
    airflow = {name: s for name, s in services.items() if s.get("image", "").startswith("amlflow/airflow:")}
    commands = {s["command"][0] for s in airflow.values() if isinstance(s.get("command"), list)}
    assert AIRFLOW_COMMANDS | {"celery"} <= commands
    for name, service in airflow.items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:"), name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "test-secret", name
        assert "azurite:10000" in env["AIRFLOW_CONN_WORKSPACEBLOBSTORE"], name
        if name != "airflow-init":
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_each_compute_target_of_the_example_has_a_worker_on_its_queue(rendered):
    from amlflow.commands.pools import compute_pools

    queues = {}
    for name, service in rendered["services"].items():
        command = service.get("command") or []
        if command[:2] == ["celery", "worker"]:
            queues[command[command.index("--queues") + 1]] = name
    targets = compute_pools(os.path.join(ROOT, "dags", "compare_models.py"))
    assert targets == {"aml-compute": 4}
    assert set(targets) | {"default"} <= set(queues)
    docker_worker = rendered["services"][queues["docker-cpu"]]
    assert any(v.endswith(":/var/run/docker.sock:rw") for v in docker_worker["volumes"])
    data = docker_worker["environment"]["TMPDIR"].rsplit("/", 1)[0]
    # Paths a worker hands the engine must be the same on the host: the data folder is mounted at itself.
    assert f"{data}:{data}:rw" in docker_worker["volumes"]


def test_components_share_no_disk_and_read_the_dag_files_from_a_bundle_in_the_datastore(rendered):
    services = rendered["services"]
    airflow = {name: s for name, s in services.items() if s.get("image", "").startswith("amlflow/airflow:")}
    dags = os.path.join(ROOT, "dags")
    mounting = sorted(
        name for name, s in airflow.items() if any(v.startswith(dags + ":") for v in s.get("volumes", []))
    )
    assert mounting == ["airflow-init"]
    # A host folder is mounted only where a container engine needs the paths it is handed.
    with_host_folders = sorted(name for name, s in airflow.items() if name != "airflow-init" and s.get("volumes"))
    assert with_host_folders == ["worker-docker-cpu"]
    bundles = {
        b["name"]: b
        for b in json.loads(airflow["scheduler"]["environment"]["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    }
    files = bundles["pipelines-from-files"]
    assert files["classpath"] == "amlflow.bundles.datastore_bundle.DatastoreDagBundle"
    init = " ".join(services["airflow-init"]["command"])
    assert f"amlflow dags push /opt/airflow/dags --prefix {files['kwargs']['prefix']}" in init


def test_image_builds_from_the_local_base_image_and_runs_airflow_with_amlflow(docker_engine):
    env = {**os.environ, "DOCKER_HOST": docker_engine.url, "BASE_IMAGE": docker_engine.base_image}
    env["PYTHON"] = os.path.join(ROOT, ".venv", "bin", "python")
    build = subprocess.run(
        ["sh", os.path.join(ROOT, "docker", "build.sh"), IMAGE], env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    client = docker_engine.client()
    history = client.history(IMAGE)
    assert client.inspect_image(docker_engine.base_image)["Id"] in {layer["Id"] for layer in history}

    def run(*command: str, entrypoint: str | None = None) -> str:
        container = client.create_container(IMAGE, command=list(command), entrypoint=entrypoint)
        try:
            client.start(container)
            status = client.wait(container, timeout=120)["StatusCode"]
            output = client.logs(container).decode()
        finally:
            client.remove_container(container, force=True)
        assert status == 0, output
        return output.strip()

    assert run("version").splitlines()[-1] == "3.3.2"
    probe = (
        "import amlflow, airflow.providers.docker, airflow.providers.postgres, psycopg2, redis; "
        "import airflow.providers.celery.executors.celery_executor; "
        "from airflow.configuration import conf; "
        "print(amlflow.__version__, conf.get('core', 'xcom_backend'))"
    )
    assert run("-c", probe, entrypoint="python").splitlines()[-1] == ("0.1.0 amlflow.xcom.PipelineDataXComBackend")
