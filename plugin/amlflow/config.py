"""The ``[amlflow]`` configuration section, read when a value is needed (never at import).

Defaults live here and in the provider's ``config`` block (``provider.py``), which shows them to
``airflow config list``; every read names its fallback so a missing provider registration still works.
"""

from __future__ import annotations

import os

SECTION = "amlflow"

DEFAULTS: dict[str, str] = {
    "docker_base_image": "python:3.11-slim-bookworm",
    "default_datastore": "workspaceblobstore",
    "local_datastore_root": "",
    "local_datastore_fallback": "auto",
    "xcom_offload_threshold": "65536",
    "stderr_tail_lines": "20",
    "transfer_concurrency": "8",
    "transfer_retries": "5",
    "transfer_retry_backoff": "1.0",
    "databricks_polling_seconds": "30",
    "adla_poll_interval": "30",
    "snapshot_cache_dir": "",
    "script_environment_passthrough": "PATH,HOME,USER,LOGNAME,LANG,LANGUAGE,LC_*,TZ,TMPDIR,TEMP,TMP",
    "step_retries": "2",
    "step_retry_delay": "10",
    "assignable_datastores": "",
    "pipeline_bundle": "amlflow-pipelines",
    "parse_timeout": "60",
    "conda_channels": "",
}


def get(key: str) -> str:
    """The ``[amlflow]`` option ``key`` from Airflow's configuration, or its default."""
    from airflow.configuration import conf

    return conf.get(SECTION, key, fallback=DEFAULTS[key])


def get_int(key: str) -> int:
    """The ``[amlflow]`` option ``key`` as an int."""
    return int(get(key))


def get_list(key: str) -> list[str]:
    """A comma-separated option as a list, blanks dropped."""
    return [part.strip() for part in get(key).split(",") if part.strip()]


def airflow_home() -> str:
    """Airflow's home folder (``AIRFLOW_HOME``)."""
    from airflow.configuration import AIRFLOW_HOME

    return AIRFLOW_HOME


def local_datastore_root() -> str:
    """Folder that holds every local datastore: ``[amlflow] local_datastore_root`` or under AIRFLOW_HOME."""
    root = get("local_datastore_root")
    return os.path.abspath(os.path.expanduser(root)) if root else os.path.join(airflow_home(), "datastores")
