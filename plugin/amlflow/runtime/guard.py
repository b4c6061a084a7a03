"""The step script's guard: a tiny parent that ends the script's whole process group when the task dies.

``ScriptProcess`` starts ``python -I -S guard.py <task pid> <argv...>`` as the leader of a new process
group. The guard asks Linux to send it SIGHUP when its parent (the task process) dies
(``PR_SET_PDEATHSIG``), runs the script as its child in the same group, and on that signal kills the
group with SIGKILL: the script and everything it started. A task killed with SIGKILL runs no cleanup
of its own, so this is the only way its script can not outlive it. Otherwise the guard exits as the
script did (same code, or the same signal).

This file runs with ``-I -S`` (no site packages, no environment-driven imports), by path: it must
import nothing but the standard library, and start in a few milliseconds.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
#: What the guard gets when the task process dies; the script never does (its handlers are reset at exec).
PARENT_DIED = signal.SIGHUP


def _kill_group(*_: object) -> None:
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """Run ``argv[2:]`` as the guard's child, killing the whole group if task ``argv[1]`` dies."""
    task_pid, command = int(argv[1]), argv[2:]
    signal.signal(PARENT_DIED, _kill_group)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(PARENT_DIED))
    if os.getppid() != task_pid:  # the task died before the line above took effect
        _kill_group()
    # The task stops the script with SIGTERM to the whole group, then SIGKILL after a grace period:
    # the guard waits it out. (A Python handler, not SIG_IGN, which the script would inherit.)
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os.write(2, f"amlflow: can not run {command[0]!r}\n".encode())
            os._exit(127)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
