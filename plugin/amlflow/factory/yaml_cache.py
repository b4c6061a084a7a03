"""Schema-checked YAML definitions kept by content, so an unchanged file is not parsed and checked again.

What ``__pycache__`` is to a Python DAG file: the dag-processor re-reads every definition every
``min_file_process_interval``, and YAML parsing plus JSON Schema checking cost more than building the
DAG. An entry is the document's data as JSON, in ``$AIRFLOW_HOME/amlflow/yaml-cache/``, named by the
SHA-256 of the cache format, the schema and the file's text: a changed file or a changed schema (a
new step kind, another amlflow) is a miss, never a stale hit. Only documents that passed the schema
are stored, written under a temporary name and renamed; a cache that can not be read or written is
only a miss.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Any

FORMAT = "1"


@functools.cache
def _folder() -> str:
    from amlflow import config

    return os.path.join(config.airflow_home(), "amlflow", "yaml-cache")


@functools.cache
def _salt() -> bytes:
    from amlflow.factory.yaml_schema import pipeline_schema

    return f"{FORMAT}\0{json.dumps(pipeline_schema(), sort_keys=True)}\0".encode()


def _entry(text: str) -> str:
    return os.path.join(_folder(), hashlib.sha256(_salt() + text.encode()).hexdigest() + ".json")


def load(text: str) -> Any | None:
    """The checked data of a document with this exact text, or None."""
    try:
        with open(_entry(text), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def store(text: str, data: Any) -> None:
    """Remember ``data`` as the checked data of ``text`` (unless JSON would not give it back unchanged)."""
    try:
        payload = json.dumps(data)
    except (TypeError, ValueError):
        return
    if json.loads(payload) != data:  # e.g. integer keys or dates: keep such documents uncached
        return
    entry = _entry(text)
    temporary = f"{entry}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(temporary, entry)
    except OSError:
        return
