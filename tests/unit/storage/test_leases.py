"""Leased folders: a sweep removes exactly the folders whose owning process died, however it died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from amlflow.storage import leases

PLUGIN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugin")
HOLDER = """
import sys, time
sys.path.insert(0, {plugin!r})
from amlflow.storage import leases
lease = leases.take({parent!r}, "step-", {{"task_id": "train.py", "try_number": 1, "run_id": "r1"}})
open(lease.path + "/big.bin", "wb").write(b"x" * 1000)
print(lease.path, flush=True)
time.sleep(60)
"""


def _holder(parent) -> tuple[subprocess.Popen, str]:
    code = HOLDER.format(plugin=os.path.abspath(PLUGIN), parent=str(parent))
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return holder, holder.stdout.readline().strip()


def test_a_folder_in_use_is_never_swept_and_a_dead_owners_folder_is(tmp_path):
    holder, path = _holder(tmp_path)
    try:
        assert leases.sweep(str(tmp_path), "step-") == []
        assert os.path.isdir(path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    removed = leases.sweep(str(tmp_path), "step-")
    assert [(r["task_id"], r["try_number"], r["folder"]) for r in removed] == [("train.py", 1, path)]
    assert os.listdir(tmp_path) == []


def test_a_released_lease_leaves_nothing_and_a_moved_folder_survives(tmp_path):
    with leases.take(str(tmp_path), "out-") as lease:
        (tmp_path / "kept").mkdir()
        open(os.path.join(lease.path, "f"), "w").close()
    assert sorted(os.listdir(tmp_path)) == ["kept"]
    lease = leases.take(str(tmp_path), "out-")
    os.rename(lease.path, tmp_path / "committed")
    lease.release(remove=False)
    assert sorted(os.listdir(tmp_path)) == ["committed", "kept"]
    # Neither is a leased folder of that prefix: a sweep leaves both alone.
    assert leases.sweep(str(tmp_path), "out-") == [] and sorted(os.listdir(tmp_path)) == ["committed", "kept"]


def test_a_child_that_outlives_the_owner_does_not_keep_the_lease(tmp_path):
    """The lease file is close-on-exec: a script started by the owner never holds the lease."""
    code = HOLDER.replace(
        "time.sleep(60)",
        "import subprocess; child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'], "
        "close_fds=False); print(child.pid, flush=True); time.sleep(60)",
    ).format(plugin=os.path.abspath(PLUGIN), parent=str(tmp_path))
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    path, child_pid = holder.stdout.readline().strip(), int(holder.stdout.readline())
    try:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert [r["folder"] for r in leases.sweep(str(tmp_path), "step-")] == [path]
    finally:
        os.kill(child_pid, signal.SIGKILL)
