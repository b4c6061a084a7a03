"""Test session set-up: one private AIRFLOW_HOME (SQLite, our XCom backend), migrated once.

The environment is set at import time, before anything imports Airflow: Airflow reads its
configuration once, when first imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

#: Fixture modules that start real services once per session; add yours here.
pytest_plugins: list[str] = [
    "tests.fixtures.adla_double",
    "tests.fixtures.airflow_stack",
    "tests.fixtures.azurite",
    "tests.fixtures.browser",
    "tests.fixtures.docker_engine",
    "tests.fixtures.databricks_double",
    "tests.fixtures.fileshare_double",
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.web_files",
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = tempfile.mkdtemp(prefix="amlflow-test-home-")
DAGS = os.path.join(HOME, "dags")
os.makedirs(DAGS)

AIRFLOW_ENV = {
    "AIRFLOW_HOME": HOME,
    "AIRFLOW__CORE__DAGS_FOLDER": DAGS,
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__XCOM_BACKEND": "amlflow.xcom.PipelineDataXComBackend",
    "AIRFLOW__CORE__MIGHT_CONTAIN_DAG_CALLABLE": "amlflow.discovery.might_contain_dag",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}
os.environ.update(AIRFLOW_ENV)
sys.path.insert(0, ROOT)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated metadata database in the session's AIRFLOW_HOME."""
    subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return HOME


@pytest.fixture(scope="session")
def dags_folder(airflow_db: str) -> str:
    return DAGS


@pytest.fixture
def datastore_root() -> str:
    from amlflow import config

    return config.local_datastore_root()


def local_datastores(*names: str) -> None:
    """Make local datastores ``names`` exist (folders under ``[amlflow] local_datastore_root``). Outside a DAG
    file's parse, ``Datastore(ws, name)`` accepts only registered datastores, as Azure ML does."""
    from amlflow import config

    for name in names:
        os.makedirs(os.path.join(config.local_datastore_root(), name), exist_ok=True)


@pytest.fixture
def local_root(monkeypatch, tmp_path):
    """A fresh ``[amlflow] local_datastore_root`` (``<tmp_path>/stores``) holding ``workspaceblobstore``.

    amlflow caches datastore backends by name: they are forgotten before and after, so a test sees its own.
    """
    from amlflow.storage.registry import forget_backends

    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path / "stores"))
    forget_backends()
    local_datastores("workspaceblobstore")
    yield tmp_path / "stores"
    forget_backends()


def install_dag(source: str, name: str | None = None) -> str:
    """Copy a DAG file (and its folder of scripts, if it has one) into the session's dags folder."""
    target = os.path.join(DAGS, name or os.path.basename(source))
    shutil.copyfile(source, target)
    return target
