"""One step try's bookkeeping: why this try is a retry, and what killed tries left behind.

Azure ML re-runs a step whose node was lost, not one whose script failed. amlflow gives step tasks
``[amlflow] step_retries`` (unless the DAG sets its own retries) and makes a script's failure final,
so a retry only ever follows a try that did not finish: its task was killed, or its worker or the
scheduler stopped. Each try records that it started in the task instance's ``task_state_store``
(Airflow's store that outlives a try, on every machine) and, when it ends by an exception, how; the
next try reads that and says in its log why it runs.

A killed try runs no cleanup, so the next one (on the same machine: staging is local to it) removes
what any killed try left: leased scratch folders under the worker's work root, staging folders in the
step's local datastores, half-made snapshot copies. Only folders whose owning process is dead are
touched (``amlflow.storage.leases``); committed outputs never are.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from amlflow import config
from amlflow.exceptions import StepFailedError
from amlflow.storage import get_backend, leases
from amlflow.storage.base import PermanentDatastoreError

#: ``task_state_store`` key of the latest try's record.
TRY_KEY = "amlflow_try"
#: Prefixes of the leased folders a step try makes under ``leases.work_root()``.
WORK_PREFIXES = ("step-", "out-", "copy-")


class FinalStepFailedError(StepFailedError, AirflowFailException):
    """The step's own failure (its script or job failed, an input is missing) under amlflow's retries: final."""


def step_retry_arguments(kwargs: dict[str, Any]) -> bool:
    """Give a step task ``[amlflow] step_retries`` unless the DAG set retries; True if amlflow's apply.

    Call it on an operator's ``kwargs`` before ``BaseOperator.__init__``: the DAG's ``default_args`` reach an
    ``__init__(**kwargs)`` as ``kwargs["default_args"]``.
    """
    if "retries" in kwargs or "retries" in (kwargs.get("default_args") or {}):
        return False
    kwargs["retries"] = config.get_int("step_retries")
    kwargs.setdefault("retry_delay", timedelta(seconds=config.get_int("step_retry_delay")))
    return True


@contextlib.contextmanager
def step_try(
    context: Any, log: logging.Logger, output_datastores: Iterable[str], retries_are_ours: bool
) -> Iterator[None]:
    """Around one try: explain a retry, clean up after killed tries, record how this try ends.

    With ``retries_are_ours`` (see :func:`step_retry_arguments`) a ``StepFailedError`` (or a datastore used
    as its kind never allows) fails the task for good: Airflow retries only a try that could not finish,
    or failed for a passing reason.
    """
    ti = context["ti"]
    store = context.get("task_state_store")
    if ti.try_number > 1:  # a first try has no earlier one to explain (and spares a call to the api-server)
        log.warning("%s", retry_reason(ti.try_number, store.get(TRY_KEY) if store is not None else None))
    # The worker's name as Airflow shows it for the task ([core] hostname_callable), to name it in a retry.
    host = getattr(ti, "hostname", None) or os.uname().nodename
    _record(store, ti.try_number, host, "running")
    try:
        for owner in remove_orphans(output_datastores):  # inside: an output datastore may not be registered
            log.warning("Removed what a killed task left behind: %s", describe_owner(owner))
        yield
    except BaseException as error:
        _record(store, ti.try_number, host, "failed", type(error).__name__)
        final = isinstance(error, StepFailedError | PermanentDatastoreError)
        if retries_are_ours and final and not isinstance(error, AirflowFailException):
            raise FinalStepFailedError(str(error)) from error
        raise


def retry_reason(try_number: int, previous: Any) -> str:
    """The log line that opens a retry: what happened to the try before it."""
    earlier = try_number - 1
    head = f"This is try {try_number} of the step: try {earlier}"
    if not isinstance(previous, dict) or previous.get("try") != earlier:
        return f"{head} left no record (it ended before it started the step); running the step again"
    where = f"on {previous.get('host')} (pid {previous.get('pid')})"
    if previous.get("state") == "running":
        return (
            f"{head} did not finish {where}: its task was killed, or its worker or the scheduler stopped, "
            "while it ran (as Azure ML re-runs a step whose node was lost); running the step again"
        )
    if previous.get("error") == "StepInterruptedError":
        return f"{head} was told to stop (its worker or the scheduler stopped) {where}; running the step again"
    return f"{head} ended with {previous.get('error')} {where}; running the step again"


def _record(store: Any, try_number: int, host: str, state: str, error: str | None = None) -> None:
    if store is None:
        return
    record = {"try": try_number, "state": state, "host": host, "pid": os.getpid()}
    if error:
        record["error"] = error
    store.set(TRY_KEY, record, retention=timedelta(days=30))


def remove_orphans(output_datastores: Iterable[str]) -> list[dict[str, Any]]:
    """Remove the leased folders of dead tries on this machine; the owners of what was removed."""
    from amlflow.runtime.snapshot import remove_orphaned_copies

    removed = [owner for prefix in WORK_PREFIXES for owner in leases.sweep(leases.work_root(), prefix)]
    for name in sorted(set(output_datastores)):
        removed.extend(get_backend(name).remove_orphaned_staging())
    removed.extend(remove_orphaned_copies())
    return removed


def describe_owner(owner: dict[str, Any]) -> str:
    """One line naming what a removed leftover was: its folder, step try, run and output."""
    step = owner.get("task_id")
    who = f"try {owner.get('try_number')} of step {step!r} of run {owner.get('run_id')!r}" if step else None
    parts = [owner["folder"], who, owner.get("output") and f"output {owner['output']}"]
    return ", ".join(str(p) for p in parts if p)
