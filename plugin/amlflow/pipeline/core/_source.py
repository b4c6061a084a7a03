"""Where a definition was written: the user's file (for error messages and relative paths), and whether
it is a DAG file that Airflow is parsing or a notebook talking to a deployment."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import sys
from collections.abc import Iterator

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@functools.lru_cache(maxsize=1024)
def _user_file(code_filename: str) -> str | None:
    """``code_filename`` made absolute, or None if it is amlflow's own code or not a file."""
    filename = os.path.abspath(code_filename)
    if filename.startswith(_PACKAGE_DIR + os.sep) or code_filename.startswith("<"):
        return None
    return filename


def caller_file() -> str | None:
    """The first file on the call stack outside amlflow: the DAG file or module being defined."""
    frame = sys._getframe(1)
    while frame is not None:
        found = _user_file(frame.f_code.co_filename)
        if found is not None:
            return found
        frame = frame.f_back
    return None


#: Airflow imports each DAG file as a module named ``unusual_prefix_<sha1>_<name>`` (``DagBag``).
AIRFLOW_DAG_MODULE_PREFIX = "unusual_prefix_"
_in_dag_file: contextvars.ContextVar[bool] = contextvars.ContextVar("amlflow_in_dag_file", default=False)


@contextlib.contextmanager
def dag_file() -> Iterator[None]:
    """Run code as Airflow runs a DAG file: ``pipeline.publish()`` builds the DAG here and sends nothing.

    Airflow's own parses are recognized without it; amlflow's folder loader, and tests that run a DAG
    file with ``runpy``, use it.
    """
    token = _in_dag_file.set(True)
    try:
        yield
    finally:
        _in_dag_file.reset(token)


def parsing_dag_file() -> bool:
    """Whether the caller runs inside a DAG file's parse (Airflow's DagBag, or ``dag_file()``)."""
    if _in_dag_file.get():
        return True
    frame = sys._getframe(1)
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith(AIRFLOW_DAG_MODULE_PREFIX):
            return True
        frame = frame.f_back
    return False


def parsing_for_a_task() -> bool:
    """Whether Airflow's task runner parses the DAG file to run one of its tasks.

    Then the file's DAG was checked already: the dag-processor parsed this same version of it, and a
    file that failed its checks has no DAG whose tasks could run.
    """
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id is not None
