"""Every trigger of amlflow survives the round trip the triggerer makes: ``serialize()``, the class found again
by its path, rebuilt from the kwargs, serialized to the same thing (JSON values only)."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil

import pytest
from airflow.triggers.base import BaseTrigger

import amlflow.triggers

#: One instance's kwargs per trigger class; a trigger added without an entry here fails the test below.
EXAMPLES = {
    "amlflow.triggers.adla.AdlaJobTrigger": {
        "adla_conn_id": "adla_default",
        "account_name": "account",
        "job_id": "5f0c2d61-1a8b-4c0f-9a7e-0d1b2c3d4e5f",
        "poll_interval": 2.5,
        "deadline": 1_900_000_000.0,
    },
    "amlflow.triggers.blob_changes.BlobChangeTrigger": {
        "datastore": "workspaceblobstore",
        "state_path": "amlflow/schedules/s-1/blob-changes.json",
        "path_on_datastore": "incoming",
        "polling_interval": 6.0,
        "schedule_id": "s-1",
        "data_path_parameter_name": "input_datapath",
        "created_after": "2026-12-02T08:00:00+00:00",
    },
}


def _trigger_classes() -> dict[str, type]:
    found = {}
    for module_info in pkgutil.iter_modules(amlflow.triggers.__path__):
        module = importlib.import_module(f"amlflow.triggers.{module_info.name}")
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseTrigger) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_trigger_has_an_example():
    assert sorted(_trigger_classes()) == sorted(EXAMPLES)


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_a_trigger_is_rebuilt_from_what_it_serializes(path):
    trigger = _trigger_classes()[path](**EXAMPLES[path])
    classpath, kwargs = trigger.serialize()
    assert classpath == path
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON: what the metadata database keeps
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs) and kwargs == EXAMPLES[path]
