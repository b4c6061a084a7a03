"""The provider info Airflow reads lists every operator, hook and trigger module amlflow has, and each is one."""

from __future__ import annotations

import importlib
import inspect
import os

import pytest

from amlflow.provider import get_provider_info

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "..", "plugin", "amlflow")


def _listed(kind: str) -> list[str]:
    return [module for entry in get_provider_info()[kind] for module in entry["python-modules"]]


@pytest.mark.parametrize(
    "kind, base",
    [
        ("operators", "airflow.sdk.BaseOperator"),
        ("hooks", "airflow.sdk.BaseHook"),
        ("triggers", "airflow.triggers.base.BaseTrigger"),
    ],
)
def test_every_module_of_a_kind_is_listed_and_defines_one(kind, base):
    on_disk = sorted(
        f"amlflow.{kind}.{name[:-3]}"
        for name in os.listdir(os.path.join(PACKAGE, kind))
        if name.endswith(".py") and name != "__init__.py"
    )
    assert sorted(_listed(kind)) == on_disk
    module_name, class_name = base.rsplit(".", 1)
    base_class = getattr(importlib.import_module(module_name), class_name)
    for listed in _listed(kind):
        module = importlib.import_module(listed)
        defined = [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == listed]
        assert any(issubclass(c, base_class) for c in defined), f"{listed} defines no {class_name}"
