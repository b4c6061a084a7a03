"""Running a script: output streams to the log, stderr tail kept, kill stops the whole process group."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from amlflow.runtime.script import ScriptProcess
from tests.processes import ends_within


def test_output_is_logged_line_by_line_and_stderr_tail_is_kept(tmp_path, caplog):
    script = tmp_path / "s.py"
    script.write_text(
        "import sys\nprint('hello')\nfor i in range(30): print(f'err {i}', file=sys.stderr)\nsys.exit(2)\n"
    )
    log = logging.getLogger("test.script")
    with caplog.at_level(logging.INFO, logger="test.script"):
        result = ScriptProcess([sys.executable, str(script)], str(tmp_path), dict(os.environ), log, 5).run()
    assert result.returncode == 2
    assert result.stderr_tail == [f"err {i}" for i in range(25, 30)]
    assert "[stdout] hello" in caplog.text and "[stderr] err 0" in caplog.text


def test_kill_stops_the_script_and_the_processes_it_started(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "s.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    process = ScriptProcess([sys.executable, str(script)], str(tmp_path), dict(os.environ), logging.getLogger("t"), 5)
    results = []
    runner = threading.Thread(target=lambda: results.append(process.run()))
    runner.start()
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "script did not start its child"
        time.sleep(0.05)
    child_pid = int(pid_file.read_text())
    process.kill()
    runner.join(timeout=20)
    assert results and results[0].returncode < 0
    assert ends_within(child_pid, 5)


TASK = """
import logging, os, sys
sys.path.insert(0, {plugin!r})
from amlflow.runtime.script import ScriptProcess
ScriptProcess([sys.executable, {script!r}], {cwd!r}, dict(os.environ), logging.getLogger("t"), 5).run()
"""


def test_a_script_and_its_children_die_with_a_task_killed_by_sigkill(tmp_path):
    """No cleanup runs in a task killed with SIGKILL: the guard's parent-death signal ends the group."""
    import signal
    import subprocess

    pids = tmp_path / "pids"
    script = tmp_path / "s.py"
    script.write_text(
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "while True: time.sleep(0.01)\n"
    )
    plugin = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugin")
    task = subprocess.Popen(
        [sys.executable, "-c", TASK.format(plugin=os.path.abspath(plugin), script=str(script), cwd=str(tmp_path))]
    )
    deadline = time.monotonic() + 20
    while not pids.exists() or len(pids.read_text().split()) < 2:
        assert time.monotonic() < deadline, "script did not start"
        time.sleep(0.05)
    script_pid, child_pid = map(int, pids.read_text().split())
    task.send_signal(signal.SIGKILL)
    task.wait()
    assert ends_within(script_pid, 2) and ends_within(child_pid, 2)


def test_processes_a_script_leaves_behind_are_stopped_when_it_exits(tmp_path):
    pid_file = tmp_path / "daemon.pid"
    script = tmp_path / "s.py"
    script.write_text(
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
    )
    result = ScriptProcess([sys.executable, str(script)], str(tmp_path), dict(os.environ), logging.getLogger("t"), 5)
    started = time.monotonic()
    assert result.run().returncode == 0
    # The leftover held the script's stdout open: without the group kill, run() would wait 60 s for it.
    assert time.monotonic() - started < 10
    assert ends_within(int(pid_file.read_text()), 2)
