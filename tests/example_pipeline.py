"""The example pipeline (``dags/compare_models.py``) on the session's Airflow stack, installed once."""

from __future__ import annotations

import os

from tests.conftest import ROOT

DAG_ID = "Compare_Models"


def installed_example(stack):
    """``stack`` with Compare_Models parsed and its input data uploaded (installed only if not there yet)."""
    status, _ = stack.request("GET", f"/api/v2/dags/{DAG_ID}")
    if status != 200:
        stack.install_dag(os.path.join(ROOT, "dags", "compare_models.py"), DAG_ID)
    stack.run_python(os.path.join(stack.dags_folder, "compare_models", "upload_data.py"))
    return stack
