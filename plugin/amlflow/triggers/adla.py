"""``AdlaJobTrigger``: waits in the triggerer for a U-SQL job to end, and owns its deadline and its kill."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from amlflow.hooks.adla import ENDED, AdlaHook, job_summary


class AdlaJobTrigger(BaseTrigger):
    """Poll ``GET /Jobs/{jobId}`` every ``poll_interval`` seconds until the job ends.

    It fires one event: ``{"status": "ended", "job": ...}`` when the job has ended (whatever its result),
    ``{"status": "timeout", ...}`` when ``deadline`` (epoch seconds) passed first, after cancelling the
    job, and ``{"status": "error", ...}`` when the API keeps failing. A user who kills the deferred task
    (mark failed, clear) gets the job cancelled too (``on_kill``); a triggerer restart does not cancel it.
    """

    def __init__(
        self,
        adla_conn_id: str,
        account_name: str | None,
        job_id: str,
        poll_interval: float = 30.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.adla_conn_id = adla_conn_id
        self.account_name = account_name
        self.job_id = job_id
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The trigger's class path and kwargs, for the triggerer to rebuild it."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "adla_conn_id": self.adla_conn_id,
                "account_name": self.account_name,
                "job_id": self.job_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    def _hook(self) -> AdlaHook:
        return AdlaHook(self.adla_conn_id, self.account_name)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the job until it ends (event ``ended``), the deadline passes (the job is cancelled: ``timeout``) or a
        call fails (``error``).
        """
        hook = self._hook()
        last_state = None
        while True:
            try:
                job = await hook.a_get_job(self.job_id)
            except Exception as error:
                # The hook already retried transient failures; what is left will not heal by waiting.
                yield TriggerEvent({"status": "error", "job_id": self.job_id, "message": str(error)})
                return
            if job.get("state") != last_state:
                last_state = job.get("state")
                self.log.info("ADLA job %s: state %s, result %s", self.job_id, last_state, job.get("result"))
            if last_state == ENDED:
                yield TriggerEvent({"status": "ended", "job": job_summary(job)})
                return
            if self.deadline is not None and time.time() >= self.deadline:
                self.log.warning("ADLA job %s: the task's execution_timeout passed; cancelling the job", self.job_id)
                await hook.a_cancel_job(self.job_id)
                job = await hook.a_get_job(self.job_id)
                yield TriggerEvent({"status": "timeout", "job": job_summary(job)})
                return
            wait = self.poll_interval
            if self.deadline is not None:
                wait = max(0.0, min(wait, self.deadline - time.time()))
            await asyncio.sleep(wait)

    async def on_kill(self) -> None:
        """Cancel the job: the deferred task was killed."""
        self.log.info("ADLA job %s: the task was killed; cancelling the job", self.job_id)
        await self._hook().a_cancel_job(self.job_id)
