"""Running a step's script as a child process whose output streams into the task log, and dies with the task.

The script runs under ``guard.py`` as the leader of a process group of its own: the group is killed on
every way out of ``run()`` (the script's leftover children included), and by the guard when the task
process itself dies without a chance to clean up (SIGKILL, OOM killer).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

KILL_GRACE_SECONDS = 10
GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.py")


@dataclass
class ScriptResult:
    """How a script ended: its exit code (negative: killed by that signal) and the last lines of its stderr."""

    returncode: int
    stderr_tail: list[str] = field(default_factory=list)


class ScriptProcess:
    """One child process in its own process group, so a kill stops the script and all it started."""

    def __init__(
        self,
        argv: list[str],
        cwd: str,
        env: dict[str, str],
        log: logging.Logger,
        tail_lines: int,
        log_files: tuple[str, str] | None = None,
    ) -> None:
        """``log_files``: where to also keep stdout and stderr, e.g. to upload them as run artifacts."""
        self._argv = argv
        self._log_files = log_files
        self._cwd = cwd
        self._env = env
        self._log = log
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._process: subprocess.Popen | None = None

    def run(self) -> ScriptResult:
        """Start the script, stream its output into the log until it exits, then kill what it left running."""
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", GUARD, str(os.getpid()), *self._argv],
            cwd=self._cwd,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        readers = [
            threading.Thread(target=self._pump, args=(self._process.stdout, False), daemon=True),
            threading.Thread(target=self._pump, args=(self._process.stderr, True), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            _wait_until_exited(self._process.pid)
        finally:
            # Whatever the script left running goes with it; the guard is not reaped yet, so its pid
            # (the group's id) can not have been reused.
            self._signal_group(signal.SIGKILL)
            returncode = self._process.wait()
        for reader in readers:
            reader.join()
        return ScriptResult(returncode, list(self._tail))

    def _pump(self, stream, is_stderr: bool) -> None:
        with open(self._log_files[is_stderr], "wb") if self._log_files else contextlib.nullcontext() as copy:
            for raw in iter(stream.readline, b""):
                if copy is not None:
                    copy.write(raw)
                line = raw.decode(errors="replace").rstrip("\n")
                if is_stderr:
                    self._tail.append(line)
                    self._log.warning("[stderr] %s", line)
                else:
                    self._log.info("[stdout] %s", line)
        stream.close()

    def kill(self) -> None:
        """SIGTERM the script's process group, then SIGKILL what is left after a grace period."""
        process = self._process
        if process is None or _exited(process.pid):
            return
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        while not _exited(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)


def _wait_until_exited(pid: int) -> None:
    """Block until child ``pid`` has exited, leaving it unreaped (``Popen.wait`` reaps it)."""
    with contextlib.suppress(ChildProcessError):  # reaped meanwhile
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def _exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None
    except ChildProcessError:
        return True
