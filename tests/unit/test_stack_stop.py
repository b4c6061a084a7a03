"""``make stop`` / ``Stack.stop``: exactly the processes of the PID files, and everything they spawned."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from scripts.stack import stop_home, write_pid_file
from tests.processes import alive, ends_within

# A component that starts a child in a session of its own, as a step script does (runtime/script.py).
COMPONENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""


def test_stop_ends_components_and_their_detached_children_but_not_a_reused_pid(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    component = subprocess.Popen(
        [sys.executable, "-c", COMPONENT], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    detached_child = int(component.stdout.readline())
    write_pid_file(str(run_dir), "scheduler", component.pid, ["airflow", "scheduler"])
    # A PID file whose process has gone and whose PID now belongs to someone else (start time differs).
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(run_dir / "triggerer.pid", "w") as handle:
        json.dump({"pid": bystander.pid, "start_time": 1, "argv": ["airflow", "triggerer"]}, handle)
    try:
        stopped = stop_home(str(tmp_path), timeout=5)

        assert set(stopped) >= {component.pid, detached_child}
        assert bystander.pid not in stopped
        component.wait(timeout=5)
        assert ends_within(detached_child, 10)
        assert alive(bystander.pid)
        assert not os.listdir(run_dir)  # PID files are removed, so a later stop signals nothing
    finally:
        bystander.kill()
        bystander.wait()
        for pid in (component.pid, detached_child):
            if alive(pid):
                os.kill(pid, 9)
