"""A private, migrated Airflow home for the in-process benchmarks (SQLite, amlflow's XCom backend)."""

from __future__ import annotations

import os
import subprocess
import sys


def use_private_airflow(home: str, dags: str, **extra_env: str) -> None:
    """Point this process (before it imports Airflow) at ``home`` and ``dags``, and migrate the database."""
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": dags,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__XCOM_BACKEND": "amlflow.xcom.PipelineDataXComBackend",
            "AIRFLOW__CORE__MIGHT_CONTAIN_DAG_CALLABLE": "amlflow.discovery.might_contain_dag",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            **extra_env,
        }
    )
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)
