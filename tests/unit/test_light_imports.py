"""Every Airflow component imports the XCom backend at start-up: it and the package stay light."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("amlflow.operators", "amlflow.hooks", "amlflow.triggers", "amlflow.factory", "azure.storage", "databricks")


@pytest.mark.parametrize("statement", ["import amlflow.xcom", "import amlflow", "from amlflow import Pipeline"])
def test_importing_the_entry_points_loads_no_operator_hook_or_sdk_client(statement):
    probe = f"""
import sys
{statement}
heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))
print(heavy)
assert not heavy, heavy
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
