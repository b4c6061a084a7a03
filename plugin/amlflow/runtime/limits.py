"""The values a run request may carry, checked where the request comes in, never later in a task.

A value that passes the door must reach the step script intact. These limits are what every hop
between a request and a script can carry:

- integers (and a number parameter's values) within JavaScript's safe range, ``±(2**53 - 1)``: every
  JSON parser keeps them exact (Airflow's UI included), and nothing on the way overflows;
- strings of at most ``MAX_STRING_CHARS`` characters, without NUL: Azure ML passes parameter values to a
  script in its argv and as ``AML_PARAMETER_<name>``, and Linux limits each argv or environment string to
  128 KiB (``MAX_ARG_STRLEN``), the NUL byte ends one;
- JSON nested at most ``MAX_NESTING`` levels (deeper, Python's parser hits its recursion limit);
- a request body of at most ``MAX_BODY_BYTES``.

``value_problem`` checks a value against all of them; ``parameter_schema`` gives the same limits as JSON
Schema, for the Params of a pipeline's DAG, so Airflow's own trigger (REST API, UI) refuses the same
values with a 400 before it creates a run.
"""

from __future__ import annotations

import json
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
#: 16,384 characters are at most 64 KiB of UTF-8: half of Linux's limit on one argv string.
MAX_STRING_CHARS = 16_384
MAX_NESTING = 32
MAX_BODY_BYTES = 1024 * 1024
#: JSON Schema ``pattern`` of a string without NUL.
NO_NUL_PATTERN = "^[^\\u0000]*$"


def value_problem(value: Any) -> str | None:
    """Why ``value`` (a parsed JSON object) can not be carried to a step, as ``<field>: <why>``, or None."""
    pending: list[tuple[str, Any, int]] = [("", value, 0)]
    while pending:
        where, item, depth = pending.pop()
        if depth > MAX_NESTING:
            return f"{where.split('[')[0]}: nested deeper than {MAX_NESTING} levels"
        problem = _scalar_problem(item)
        if problem:
            return f"{where}: {problem}"
        if isinstance(item, dict):
            for key, child in item.items():
                problem = string_problem(key)
                if problem:
                    return f"{where}: key {_short(key)}: {problem}"
                pending.append((f"{where}.{key}" if where else key, child, depth + 1))
        elif isinstance(item, list):
            pending.extend((f"{where}[{index}]", child, depth + 1) for index, child in enumerate(item))
    return None


def nesting_problem(raw: bytes) -> str | None:
    """Why the JSON text ``raw`` is nested too deeply, or None (also for text that is not JSON at all)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        return f"nested deeper than {MAX_NESTING} levels"
    except ValueError:
        return None
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_NESTING:
            return f"nested deeper than {MAX_NESTING} levels"
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending.extend((child, depth + 1) for child in children)
    return None


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        return f"integer {_short(value)} is outside the range a run can carry (±{MAX_SAFE_INTEGER})"
    if isinstance(value, str):
        return string_problem(value)
    return None


def string_problem(value: str) -> str | None:
    """Why a string cannot travel in a run (too long, or a NUL character), or None."""
    if len(value) > MAX_STRING_CHARS:
        return f"a string of {len(value):,} characters is longer than the {MAX_STRING_CHARS:,} a run can carry"
    if "\x00" in value:
        return "a string must not contain the NUL character (\\u0000)"
    return None


def parameter_schema(json_type: str | None) -> dict[str, Any]:
    """JSON Schema keywords that bound a Param of ``json_type`` as ``value_problem`` does."""
    if json_type in ("integer", "number"):
        # jsonschema counts 1e30 as an integer too: a number parameter has the same bounds.
        return {"minimum": -MAX_SAFE_INTEGER, "maximum": MAX_SAFE_INTEGER}
    if json_type == "string":
        return {"maxLength": MAX_STRING_CHARS, "pattern": NO_NUL_PATTERN}
    return {}


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} characters)"
