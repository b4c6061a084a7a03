"""Running a script: output streams to the log, stderr tail kept, kill stops the whole process group."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from amlflow.runtime.script import ScriptProcess


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
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
