"""The process that runs a ParallelRunStep's entry script on one mini-batch: ``init()`` once, then ``run()``.

Run by the mini-batch task as ``python -m amlflow.runtime.parallel_driver <request.json>`` in the copy of
the step's snapshot. The request says which script, its argv, the mini-batch (local files, or a pickled
DataFrame of rows) and the limits; the driver writes ``result`` (JSON: how many items succeeded, the rows for
``append_row``, the error of the last try when every try failed). Each ``run()`` call gets at most
``run_invocation_timeout`` seconds and a failed or timed out call is tried again, up to ``run_max_try`` tries,
as Azure ML does. A failure of ``init()`` ends the process with an error: no mini-batch can run without it.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any

#: exit code when the entry script can not be loaded or its init() fails
INIT_FAILED = 3


@dataclass
class MiniBatchContext:
    """The optional second argument of ``run(mini_batch, mini_batch_context)``, as Azure ML's."""

    partition_key_value: dict[str, Any] | None
    dataset: Any
    minibatch_index: int


class InvocationTimeout(Exception):
    """A ``run()`` call took longer than ``run_invocation_timeout``."""


def main(request_path: str) -> int:
    """Load the entry script, ``init()``, run the mini-batch; the process's exit code."""
    with open(request_path) as handle:
        request = json.load(handle)
    logging.basicConfig(level=request.get("logging_level", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    sys.argv = [request["entry_script"], *request["argv"]]
    sys.path.insert(0, os.path.dirname(request["entry_script"]))
    try:
        module = _load(request["entry_script"])
        init = getattr(module, "init", None)
        if callable(init):
            init()
    except BaseException:  # the script's own failure: reported as such, with its traceback
        traceback.print_exc()
        print("amlflow: the entry script's init() failed (or it could not be loaded)", file=sys.stderr)
        return INIT_FAILED
    run = getattr(module, "run", None)
    if not callable(run):
        print(f"amlflow: {request['entry_script']} has no run(mini_batch) function", file=sys.stderr)
        return INIT_FAILED
    result = _run_with_tries(run, request)
    with open(request["result"], "w") as handle:
        json.dump(result, handle)
    return 0


def _load(path: str) -> Any:
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _run_with_tries(run: Any, request: dict[str, Any]) -> dict[str, Any]:
    mini_batch = _mini_batch(request)
    arguments = [mini_batch]
    if _takes_context(run):
        arguments.append(MiniBatchContext(request.get("partition"), _context_dataset(request), request["index"]))
    error = None
    for attempt in range(1, request["max_tries"] + 1):
        try:
            returned = _call_with_timeout(run, arguments, request["timeout"])
            rows = _rows(returned)
            return {"succeeded": len(rows), "rows": rows if request["append_row"] else [], "tries": attempt}
        except Exception as exc:  # the script's failure: tried again, then counted against the thresholds
            error = f"{type(exc).__name__}: {exc}"
            print(f"amlflow: run() try {attempt} of {request['max_tries']} failed: {error}", file=sys.stderr)
            traceback.print_exc()
    return {"succeeded": 0, "rows": [], "error": error, "tries": request["max_tries"]}


def _mini_batch(request: dict[str, Any]) -> Any:
    if "frame" in request:
        import pandas as pd

        return pd.read_pickle(request["frame"])
    return list(request["files"])


def _context_dataset(request: dict[str, Any]) -> Any:
    if not request.get("dataset"):
        return None
    from amlflow.data.dataset_values import dataset_from_value

    return dataset_from_value(request["dataset"])


def _takes_context(run: Any) -> bool:
    try:
        parameters = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def _call_with_timeout(run: Any, arguments: list[Any], timeout: float) -> Any:
    def expire(_signum: int, _frame: Any) -> None:
        raise InvocationTimeout(f"run() took longer than run_invocation_timeout ({timeout:g} s)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return run(*arguments)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _rows(returned: Any) -> list[str]:
    """What ``run()`` returned as the lines of the append_row file: one per element, or per DataFrame row."""
    if hasattr(returned, "to_csv"):
        return returned.to_csv(sep=" ", header=False, index=False).splitlines()
    if isinstance(returned, list | tuple):
        return [str(item) for item in returned]
    raise TypeError(
        f"run() returned a {type(returned).__name__}; it must return a list (one element per successful item) "
        "or a pandas DataFrame (one row per successful item)"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
