"""``amlflow pools sync``: each compute target's pool exists with max_nodes slots, created at deploy time."""

from __future__ import annotations

import os
import subprocess
import sys

PIPELINE = """
from amlflow.core import Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
gpu = ComputeTarget.create(ws, "gpu-cluster", AmlCompute.provisioning_configuration(max_nodes=3))
step = PythonScriptStep("s.py", compute_target=gpu, source_directory=".")
local = PythonScriptStep("s.py", name="local", source_directory=".")
Pipeline(ws, [step, local]).publish(name="pools_pipeline")
"""


def test_pools_sync_creates_a_pool_per_compute_target_with_max_nodes_slots(airflow_db, tmp_path):
    (tmp_path / "s.py").write_text("")
    (tmp_path / "pools_pipeline.py").write_text(PIPELINE)
    amlflow = os.path.join(os.path.dirname(sys.executable), "amlflow")
    listed = subprocess.run(
        [amlflow, "pools", "list", "--dags-folder", str(tmp_path)], capture_output=True, text=True, check=True
    )
    # Airflow's own log lines share stdout; the command's result is its tab-separated lines.
    assert [line for line in listed.stdout.splitlines() if "\t" in line] == ["gpu-cluster\t3"]
    subprocess.run([amlflow, "pools", "sync", "--dags-folder", str(tmp_path)], capture_output=True, check=True)
    from airflow.models.pool import Pool

    pool = Pool.get_pool("gpu-cluster")
    assert pool is not None and pool.slots == 3
