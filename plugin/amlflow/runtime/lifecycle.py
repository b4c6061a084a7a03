"""One step try's path, whatever runs the step: reuse an earlier committed run, or run, index, publish.

Every step kind goes the same way once it knows its fingerprint (``runtime.fingerprint``): a local
script, a container, a Databricks run, an ADLA job, a copy between datastores, a ParallelRunStep's
mini-batches. The kind supplies what its fingerprint covers and how it runs; this module decides
whether it runs, and leaves the same XComs and asset events behind either way
(``runtime.step_result``), so ``allow_reuse`` and ``regenerate_outputs`` mean one thing for all of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from amlflow.runtime import reuse
from amlflow.runtime.artifacts import read_metrics
from amlflow.runtime.step_result import publish_step_result
from amlflow.storage.location import DataLocation


@dataclass(frozen=True)
class StepLifecycle:
    """A step try from its fingerprint on: ``outputs`` are its output specs, ``log`` its task's logger."""

    context: Any
    outputs: list[dict[str, Any]]
    fingerprint: str
    allow_reuse: bool
    log: logging.Logger

    @classmethod
    def resumed(
        cls, context: Any, outputs: list[dict[str, Any]], allow_reuse: bool, log: logging.Logger
    ) -> StepLifecycle:
        """The lifecycle of a try back from the triggerer, its fingerprint as ``hold`` kept it."""
        ti = context["ti"]
        fingerprint = ti.xcom_pull(task_ids=ti.task_id, key=reuse.FINGERPRINT_XCOM_KEY)
        if not fingerprint:
            raise RuntimeError(f"step {ti.task_id!r}: no fingerprint was kept before the step waited; retry the task")
        return cls(context, outputs, fingerprint, allow_reuse, log)

    def hold(self) -> None:
        """Keep the fingerprint in XCom for the rest of the try: Airflow keeps a try's XComs while it is
        deferred, and builds a new operator to resume it."""
        self.context["ti"].xcom_push(key=reuse.FINGERPRINT_XCOM_KEY, value=self.fingerprint)

    def earlier_run(self) -> reuse.ReuseEntry | None:
        """The committed earlier run that may stand in for this one (none with ``allow_reuse=False`` or
        when the run asked for ``regenerate_outputs``)."""
        names = [spec["name"] for spec in self.outputs]
        conf = self.context["dag_run"].conf
        return reuse.reusable_run(self.fingerprint, self.allow_reuse, conf, names, self.log)

    def hand_on(self, earlier: reuse.ReuseEntry, skipped: str, metrics: bool = True) -> None:
        """Publish ``earlier``'s outputs (and, with ``metrics``, the metrics it logged) as this step's."""
        self.log.info(
            "Reusing the outputs of %s (same fingerprint %s): %s", earlier.describe(), self.fingerprint, skipped
        )
        logged = read_metrics(earlier.dag_id, earlier.run_id, earlier.task_id) if metrics else None
        publish_step_result(self.context, self.outputs, earlier.outputs, {}, self.fingerprint, earlier, logged)

    def reused(self, skipped: str) -> bool:
        """Hand on an earlier run's outputs when one may stand in; whether it did (then nothing runs)."""
        earlier = self.earlier_run()
        if earlier is None:
            return False
        self.hand_on(earlier, skipped)
        return True

    def finish(
        self,
        committed: dict[str, DataLocation],
        registered: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """The step ran and committed its outputs: offer them for reuse (``allow_reuse``) and publish them."""
        if self.allow_reuse:
            ti = self.context["ti"]
            reuse.record(self.fingerprint, ti.dag_id, ti.run_id, ti.task_id, committed)
        publish_step_result(self.context, self.outputs, committed, registered or {}, self.fingerprint, None, metrics)
