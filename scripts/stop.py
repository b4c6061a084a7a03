"""``make stop``: stop the Airflow that ``make demo`` started, by the PID files in ``.demo/run/``.

Runs with any Python 3 (no virtualenv needed): it only reads PID files and signals those processes,
their process groups and their descendants.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.stack import stop_home  # noqa: E402 - the repository root is put on the path first

HOME = os.path.join(ROOT, ".demo")


def main() -> int:
    stopped = stop_home(HOME)
    if stopped:
        print(f"Stopped the demo's Airflow: {len(stopped)} processes ({', '.join(map(str, stopped))}).")
    else:
        print("No demo Airflow is running.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
