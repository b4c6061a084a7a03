"""``RunDetails`` outside Jupyter: the text table a script prints, up to the run's last state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from amlflow.widgets import run_details
from amlflow.widgets.run_details import RunDetails


class FakeStep:
    def __init__(self, name: str) -> None:
        self.name = name
        self.reused_from = None
        self._entity: dict[str, Any] = {"Status": {"StatusCode": "Running"}}


class FakeRun:
    id = "run-1"

    def __init__(self) -> None:
        self.status = "Running"
        self.steps = [FakeStep("train_step")]
        self.looks = 0

    def get_status(self) -> str:
        self.looks += 1
        return self.status

    def _all_steps(self) -> list[FakeStep]:
        return self.steps

    def finish(self) -> None:
        self.status = "Finished"
        self.steps[0]._entity["Status"]["StatusCode"] = "Finished"


def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def exit_hooks(monkeypatch) -> list[Any]:
    hooks: list[Any] = []
    monkeypatch.setattr(run_details.atexit, "register", lambda hook, *args: hooks.append((hook, args)))
    monkeypatch.setattr(run_details, "REFRESH_SECONDS", 60)  # the thread sleeps through the test, as at exit
    return hooks


def test_a_script_that_ends_between_two_refreshes_prints_the_runs_last_state(exit_hooks, capsys):
    run = FakeRun()
    RunDetails(run).show()
    wait_until(lambda: run.looks == 2)  # show()'s look, then the thread's first, before its long sleep
    run.finish()  # between two refreshes: the thread has not seen it
    for hook, args in exit_hooks:
        hook(*args)
    tables = [line for line in capsys.readouterr().out.splitlines() if line.startswith("train_step ")]
    assert [table.split()[1] for table in tables] == ["Running", "Finished"]


def test_at_exit_nothing_is_printed_again_when_the_thread_saw_the_end(exit_hooks, capsys):
    run = FakeRun()
    run.finish()
    details = RunDetails(run)
    details.show()
    details._thread.join(5)
    for hook, args in exit_hooks:
        hook(*args)
    assert capsys.readouterr().out.count("PipelineRun run-1 Status: Finished") == 1
