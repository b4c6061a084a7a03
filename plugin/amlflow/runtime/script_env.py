"""The environment a step's script gets: Azure ML's variables and the compute's own, not the worker's.

A worker's environment holds what the worker needs, ``AIRFLOW_CONN_*`` connections with account keys
and SAS tokens, ``AIRFLOW__*`` settings, cloud credentials among them; Azure ML never handed a script
the workspace's secrets, and neither does amlflow. A script gets:

- from the worker, only the variables named by ``[amlflow] script_environment_passthrough`` (shell-style
  patterns; by default the search path, home, user, locale, time zone and temp folder);
- what its environment declares (``runconfig.environment.environment_variables``);
- Azure ML's own: ``AZUREML_DATAREFERENCE_<name>``, ``AML_PARAMETER_<name>``, ``AZUREML_RUN_ID``,
  ``AZUREML_ARM_PROJECT_NAME`` (the experiment), and amlflow's run context for ``Run.get_context()``;
- ``PYTHONUNBUFFERED=1``, so its lines reach the task log as they are printed.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping

from amlflow import config


def passthrough_patterns() -> list[str]:
    """The ``[amlflow] script_environment_passthrough`` patterns: worker variables a step's script also sees."""
    return [p.strip() for p in config.get("script_environment_passthrough").split(",") if p.strip()]


def worker_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's variables a script may see (``[amlflow] script_environment_passthrough``)."""
    environ = os.environ if environ is None else environ
    patterns = passthrough_patterns()
    return {name: value for name, value in environ.items() if any(fnmatch.fnmatchcase(name, p) for p in patterns)}


def run_variables(run_id: str, task_id: str, experiment_name: str | None) -> dict[str, str]:
    """Azure ML's variables naming the run: the step run's id and the experiment."""
    found = {"AZUREML_RUN_ID": f"{run_id}/{task_id}"}
    if experiment_name:
        found["AZUREML_ARM_PROJECT_NAME"] = experiment_name
    return found


def script_environment(declared: Mapping[str, str], *amlflow_parts: Mapping[str, str]) -> dict[str, str]:
    """The script's whole environment: passed-through worker variables, then ``declared``, then Azure ML's."""
    env = {**worker_variables(), **{str(k): str(v) for k, v in declared.items()}}
    for part in amlflow_parts:
        env.update(part)
    env["PYTHONUNBUFFERED"] = "1"
    return env
