"""``CommandStepOperator``: a CommandStep run in the Airflow worker.

Everything around the command is the PythonScriptStep operator's (inputs, snapshot, fingerprint and
reuse, output commit, artifacts, retries): this class only says what process runs. The command line
runs under ``/bin/sh -c`` in the snapshot's copy, with each further argument (a data path, a parameter
value) appended shell-quoted. ``python`` and ``python3`` in it are the worker's own Python
(``sys.executable``, where amlflow is installed), through two small wrapper scripts put first on the
command's ``PATH``.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

from amlflow.operators.python_script import PythonScriptStepOperator
from amlflow.runtime.snapshot import Snapshot

SHELL = "/bin/sh"
#: the names a command may call the worker's Python by
PYTHON_NAMES = ("python", "python3")


def shell_command(command_line: str, argv: list[str]) -> str:
    """``command_line`` as written (shell syntax), then each argument as one shell word."""
    return " ".join([command_line, *(shlex.quote(arg) for arg in argv)])


def python_wrappers(folder: str, python: str) -> str:
    """``folder`` with a ``python`` and a ``python3`` that run ``python``; the folder.

    Wrapper scripts, not symlinks: a virtualenv's interpreter finds its packages from the path it is
    started by, which a symlink elsewhere would lose.
    """
    os.makedirs(folder, exist_ok=True)
    for name in PYTHON_NAMES:
        path = os.path.join(folder, name)
        with open(path, "w") as handle:
            handle.write(f'#!{SHELL}\nexec {shlex.quote(python)} "$@"\n')
        os.chmod(path, 0o755)
    return folder


class CommandStepOperator(PythonScriptStepOperator):
    """Run a CommandStep's command line in the snapshot of ``source_directory``.

    :param command_line: the command line (shell syntax), e.g. ``python train.py --epochs 30``.
    :param arguments: further arguments, each one shell word: strings (Jinja-rendered) and
        ``{"input": port}`` / ``{"output": port}`` (their local paths).

    Other parameters are ``PythonScriptStepOperator``'s.
    """

    ui_color = "#d9f2e6"
    step_kind = "CommandStep"

    def __init__(self, *, command_line: str, **kwargs: Any) -> None:
        # The command line stands where the script name does: in the fingerprint, the log and messages.
        super().__init__(script_name=command_line, **kwargs)

    @property
    def command_line(self) -> str:
        """The step's command line (kept in ``script_name``)."""
        return self.script_name

    def _check_snapshot(self, snapshot: Snapshot) -> None:
        """Nothing to check: the command may be one the compute has (``ls``), not a file of the snapshot."""

    def process_argv(self, cwd: str, argv: list[str], python: str) -> list[str]:
        """The step's process: the command line run by the shell, each argument one shell word."""
        return [SHELL, "-c", shell_command(self.command_line, argv)]

    def _local_environment(self, cwd: str, env: dict[str, str]) -> dict[str, str]:
        # Beside the snapshot's copy (cwd), in the step's work folder, which is removed after the try.
        wrappers = python_wrappers(os.path.join(os.path.dirname(cwd), "python-bin"), sys.executable)
        return {**env, "PATH": os.pathsep.join([wrappers, env.get("PATH") or os.defpath])}
