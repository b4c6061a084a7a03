"""The routes' writes to Airflow's metadata database: one at a time per api-server, and patient with SQLite.

On SQLite (the embedded default) a write waits at most sqlite3's 5 s for the lock. Under load another process
(the scheduler, the dag-processor, a burst of task starts) can hold it longer, and a run submitted then failed
with HTTP 500 "database is locked" (in the commit of Airflow's audit log row, or of the run). Such a write is
rolled back whole, so doing it again is safe; it is done again until ``LOCKED_RETRY_SECONDS`` have passed.
A longer busy timeout for every connection was tried and removed: connections that wait inside it hold the
api-server's pooled connections, and every request stalls.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.api_fastapi.logging.decorators import action_logging
from fastapi import Request
from sqlalchemy.exc import OperationalError

T = TypeVar("T")

#: How long a write keeps trying while another process holds SQLite's lock.
LOCKED_RETRY_SECONDS = 60.0

#: One run-creating transaction at a time in this api-server. On SQLite two requests that each read, then
#: write, deadlock: each holds the lock the other's commit needs, until one fails with "database is locked".
_WRITES = threading.Lock()


def committed(session: Any, write: Callable[[], T]) -> T:
    """What ``write`` returns, once its changes in ``session`` are committed, one such write at a time."""

    def write_and_commit() -> T:
        result = write()
        session.commit()
        return result

    with _WRITES:
        return retried_while_locked(session, write_and_commit)


def audit_log(event: str | None = None) -> Callable[..., Any]:
    """Airflow's ``action_logging`` dependency, its commit patient with SQLite's lock and off the event loop.

    Airflow's commits the audit row on the event loop; a wait there for the lock stalls every request.
    """
    log_action = action_logging(event)

    async def log_action_patiently(request: Request, session: SessionDep, user: GetUserDep) -> None:
        await request.body()  # read here, on the request's own loop; the thread below finds it read

        def log() -> None:
            asyncio.run(log_action(request=request, session=session, user=user))

        await asyncio.to_thread(retried_while_locked, session, log)

    return log_action_patiently


def retried_while_locked(session: Any, attempt: Callable[[], T]) -> T:
    """What ``attempt`` returns, tried again (after a rollback) while another process holds SQLite's lock."""
    deadline = time.monotonic() + LOCKED_RETRY_SECONDS
    while True:
        try:
            return attempt()
        except OperationalError as error:
            if not is_sqlite_locked(error) or time.monotonic() > deadline:
                raise
            session.rollback()
            time.sleep(0.2)


def is_sqlite_locked(error: OperationalError) -> bool:
    """Whether ``error`` is SQLite's "database is locked" (another connection holds the write lock)."""
    return "database is locked" in str(error.orig)
