"""Where a definition was written: the user's file, for error messages and relative paths."""

from __future__ import annotations

import functools
import os
import sys

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
