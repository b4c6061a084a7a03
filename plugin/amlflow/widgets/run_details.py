"""``RunDetails``: a pipeline run's steps and their status, kept up to date while the run goes on.

In Jupyter, with ipywidgets installed, ``show()`` displays a table that a background thread refreshes
until the run ends. Anywhere else (a terminal, a plain script, Jupyter without ipywidgets) it prints the
table as text each time it changes, from a background thread too: ``show()`` returns at once, as the
widget does, and never fails for want of a notebook. A script that ends while the run is followed prints
the table once more as it leaves, so its output ends with the run's last state, as the widget would.
"""

from __future__ import annotations

import atexit
import contextlib
import html
import sys
import threading
import time
from typing import Any

#: Seconds between two looks at the run.
REFRESH_SECONDS = 2.0
COLUMNS = ("Step", "Status", "Started", "Ended", "Reused from")


class RunDetails:
    """The details of ``run_instance`` (a ``PipelineRun``), as Azure ML's widget shows them."""

    def __init__(self, run_instance: Any) -> None:
        self.run_instance = run_instance
        self._thread: threading.Thread | None = None

    def get_widget_data(self, widget_settings: Any = None) -> dict[str, Any]:
        """What the widget shows: the run's status and one row per step."""
        run = self.run_instance
        rows = []
        for step in run._all_steps():
            status = step._entity.get("Status") or {}
            reused = step.reused_from or {}
            rows.append(
                (
                    step.name,
                    status.get("StatusCode") or "",
                    status.get("StartTime") or "",
                    status.get("EndTime") or "",
                    reused.get("reused_run_id") or "",
                )
            )
        return {"run_id": run.id, "status": run.get_status(), "steps": rows}

    def show(self, render_lib: Any = None, widget_settings: Any = None) -> None:
        """Show the run and keep it up to date until it ends (a widget in Jupyter, text elsewhere)."""
        widget = _jupyter_widget()
        update = _widget_updater(widget) if widget is not None else _printer()
        update(self.get_widget_data())
        self._thread = threading.Thread(target=self._follow, args=(update,), daemon=True, name="amlflow-run-details")
        self._thread.start()
        if widget is None:
            # The thread is a daemon, stopped at exit mid-sleep: a script's output would end with a stale table.
            atexit.register(self._last_update, update)

    def _last_update(self, update: Any) -> None:
        """Show the run as it is now, if the thread still follows it (the interpreter is exiting)."""
        if self._thread is None or not self._thread.is_alive():
            return
        # The run's service may be gone by then: the last table shown stays, as it would without this.
        with contextlib.suppress(Exception):
            update(self.get_widget_data())

    def _follow(self, update: Any) -> None:
        from amlflow.pipeline.core.run import RUNNING_STATES

        while True:
            data = self.get_widget_data()
            update(data)
            if data["status"] not in RUNNING_STATES:
                return
            time.sleep(REFRESH_SECONDS)


def text_table(data: dict[str, Any]) -> str:
    """The widget's content as a text table."""
    rows = [COLUMNS, *data["steps"]]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(COLUMNS))]
    lines = [f"PipelineRun {data['run_id']} Status: {data['status']}"]
    lines += [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def html_table(data: dict[str, Any]) -> str:
    """The widget's content as an HTML table (what Jupyter shows)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in data["steps"]
    )
    title = html.escape(f"PipelineRun {data['run_id']} Status: {data['status']}")
    return f"<p><b>{title}</b></p><table><tr>{head}</tr>{body}</table>"


def _printer() -> Any:
    shown: list[str] = []
    lock = threading.Lock()  # the following thread and the exit hook both print

    def update(data: dict[str, Any]) -> None:
        table = text_table(data)
        with lock:
            if not shown or shown[-1] != table:
                shown.append(table)
                print(table, file=sys.stdout, flush=True)

    return update


def _widget_updater(widget: Any) -> Any:
    def update(data: dict[str, Any]) -> None:
        widget.value = html_table(data)

    return update


def _jupyter_widget() -> Any:
    """A displayed ipywidgets HTML widget when running in a Jupyter kernel with ipywidgets; else None."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        import ipywidgets
        from IPython.display import display
    except ImportError:
        return None
    widget = ipywidgets.HTML()
    display(widget)
    return widget
