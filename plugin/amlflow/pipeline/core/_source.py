"""Where a definition was written: the user's file, for error messages and relative paths."""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def caller_file() -> str | None:
    """The first file on the call stack outside amlflow: the DAG file or module being defined."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR + os.sep) and not filename.startswith("<"):
            return filename
        frame = frame.f_back
    return None
