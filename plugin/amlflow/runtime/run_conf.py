"""What amlflow keeps in a DAG run's ``conf`` beside the parameter values: one ``amlflow`` key.

A run triggered through the AML-compatible endpoint carries its experiment name, tags, properties and
``DataPathAssignments`` there, so the run can be found by experiment and its steps read the repointed
inputs. A trigger from Airflow's own REST API or UI may set the same key::

    {"pipeline_arg": 20,
     "amlflow": {"experiment_name": "My_Pipeline",
                 "data_paths": {"test_data": {"datastore": "workspaceblobstore", "path": "other/20news.csv"}}}}

Airflow adds conf keys that are not Params to the run's ``params``; step code reads PipelineParameter
values by name, so the extra ``params["amlflow"]`` is never mistaken for one.
"""

from __future__ import annotations

from typing import Any

#: The conf key amlflow owns.
KEY = "amlflow"


def section(conf: dict[str, Any] | None) -> dict[str, Any]:
    value = (conf or {}).get(KEY)
    return value if isinstance(value, dict) else {}


def experiment_name(conf: dict[str, Any] | None) -> str | None:
    return section(conf).get("experiment_name")


def data_path(conf: dict[str, Any] | None, input_name: str) -> tuple[str, str] | None:
    """The (datastore, path) a run assigned to the DataReference input ``input_name``, if any."""
    assigned = section(conf).get("data_paths", {}).get(input_name)
    if not assigned:
        return None
    return assigned["datastore"], assigned["path"]
