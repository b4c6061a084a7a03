"""The end of a step try that succeeded: what its task leaves in XCom and in its asset events.

Every step kind ends here, so a downstream step, ``StepRun`` and the reuse index read the same keys
whatever ran: one DataLocation per output (key: the output's name), ``amlflow_fingerprint``,
``amlflow_reuse`` (only when reused: from which step run) and ``amlflow_metrics`` (small metrics).
"""

from __future__ import annotations

from typing import Any

from amlflow.runtime import reuse
from amlflow.runtime.artifacts import METRICS_XCOM_KEY, small_metrics
from amlflow.runtime.asset_events import describe_outputs
from amlflow.storage.location import DataLocation


def publish_step_result(
    context: Any,
    output_specs: list[dict[str, Any]],
    committed: dict[str, DataLocation],
    registered: dict[str, Any],
    fingerprint: str,
    earlier: reuse.ReuseEntry | None,
    metrics: dict[str, Any] | None,
) -> None:
    """Push the step's XComs and describe its outputs' asset events (``earlier``: the run it reused)."""
    ti = context["ti"]
    for name, location in committed.items():
        ti.xcom_push(key=name, value=location.to_xcom())
    describe_outputs(context, output_specs, committed, registered, earlier.describe() if earlier is not None else None)
    ti.xcom_push(key=reuse.FINGERPRINT_XCOM_KEY, value=fingerprint)
    if earlier is not None:
        ti.xcom_push(key=reuse.REUSE_XCOM_KEY, value=reuse.reuse_xcom(earlier))
    if metrics:
        ti.xcom_push(key=METRICS_XCOM_KEY, value=small_metrics(metrics))
