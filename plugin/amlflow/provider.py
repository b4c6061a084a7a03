"""What amlflow adds to Airflow, declared in one place (the ``apache_airflow_provider`` entry point)."""

from __future__ import annotations

import os
import pkgutil
from typing import Any

from amlflow import __version__
from amlflow.config import DEFAULTS
from amlflow.step_kinds import operator_modules


def _option(description: str, key: str, type_: str = "string", example: str | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "version_added": "0.1.0",
        "type": type_,
        "example": example,
        "default": DEFAULTS[key],
    }


def _modules(kind: str) -> list[dict[str, Any]]:
    """Every module of ``amlflow.<kind>`` (hooks, triggers), found on disk: a new one is listed without an edit
    here, and nothing is imported to list them. Operators come from the step kinds (``amlflow.step_kinds``)."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), kind)
    names = sorted(name for _finder, name, _is_package in pkgutil.iter_modules([folder]))
    return [{"integration-name": "amlflow", "python-modules": [f"amlflow.{kind}.{name}"]} for name in names]


def get_provider_info() -> dict[str, Any]:
    """The metadata Airflow reads from the ``apache_airflow_provider`` entry point: hooks, operators, config."""
    return {
        "package-name": "amlflow",
        "name": "amlflow",
        "description": "Azure Machine Learning (SDK v1) style pipelines on Apache Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "amlflow",
                "external-doc-url": "https://github.com/amlflow/amlflow",
                "tags": ["software"],
            }
        ],
        "operators": [{"integration-name": "amlflow", "python-modules": operator_modules()}],
        "plugins": [{"name": "amlflow", "plugin-class": "amlflow.api.plugin.AmlflowPlugin"}],
        "hooks": _modules("hooks"),
        "extra-links": [
            "airflow.providers.databricks.operators.databricks.DatabricksJobRunLink",
            "amlflow.extra_links.PipelineViewLink",
            "amlflow.extra_links.StepOutputsLink",
        ],
        "triggers": _modules("triggers"),
        "connection-types": [{"hook-class-name": "amlflow.hooks.adla.AdlaHook", "connection-type": "amlflow_adla"}],
        "config": {
            "amlflow": {
                "description": "Azure ML style pipelines: datastores, step outputs and XCom.",
                "options": {
                    "docker_base_image": _option(
                        "Image of the steps run in Docker whose environment names none (or Azure ML's "
                        "default CPU/GPU image); pip packages of an environment are installed on top of it.",
                        "docker_base_image",
                        example="python:3.11-slim-bookworm",
                    ),
                    "default_datastore": _option(
                        "Datastore of PipelineData and offloaded XCom values when a pipeline names none.",
                        "default_datastore",
                    ),
                    "local_datastore_root": _option(
                        "Folder of the datastores that have no Airflow connection (empty: $AIRFLOW_HOME/datastores).",
                        "local_datastore_root",
                        example="/data/amlflow",
                    ),
                    "local_datastore_fallback": _option(
                        "Whether a datastore name with no Airflow connection is a folder under local_datastore_root: "
                        "true, false, or auto (only where every executor is the LocalExecutor, whose tasks share "
                        "one disk).",
                        "local_datastore_fallback",
                        example="false",
                    ),
                    "xcom_offload_threshold": _option(
                        "XCom values whose JSON is larger than this many bytes go to the default "
                        "datastore; -1 keeps every value in the database.",
                        "xcom_offload_threshold",
                        "integer",
                    ),
                    "stderr_tail_lines": _option(
                        "How many last lines of a failed script's stderr its task error shows.",
                        "stderr_tail_lines",
                        "integer",
                    ),
                    "transfer_concurrency": _option(
                        "Parallel connections per blob upload or download.", "transfer_concurrency", "integer"
                    ),
                    "transfer_retries": _option(
                        "How many times a blob transfer is retried after a transient error (network, "
                        "timeout, throttling, 5xx) before the step fails.",
                        "transfer_retries",
                        "integer",
                    ),
                    "transfer_retry_backoff": _option(
                        "Seconds before the first retry of a blob transfer; each further retry waits twice "
                        "as long (at most 30 s).",
                        "transfer_retry_backoff",
                        "float",
                    ),
                    "databricks_polling_seconds": _option(
                        "Seconds between two looks at a running Databricks job run (by the triggerer while "
                        "a DatabricksStep is deferred).",
                        "databricks_polling_seconds",
                        "integer",
                    ),
                    "snapshot_cache_dir": _option(
                        "Local folder of step source snapshots, one folder per content hash "
                        "(empty: $AIRFLOW_HOME/cache/snapshots).",
                        "snapshot_cache_dir",
                        example="/var/cache/amlflow/snapshots",
                    ),
                    "adla_poll_interval": _option(
                        "Seconds between two reads of an AdlaStep job's state by the triggerer.",
                        "adla_poll_interval",
                        "float",
                    ),
                    "script_environment_passthrough": _option(
                        "The worker's environment variables a step script sees (comma-separated names or "
                        "shell-style patterns); every other variable, AIRFLOW_CONN_* secrets included, is "
                        "withheld.",
                        "script_environment_passthrough",
                        example="PATH,HOME,LANG,LC_*,HTTPS_PROXY",
                    ),
                    "step_retries": _option(
                        "Retries of a step whose task ended without finishing (killed, its worker or the "
                        "scheduler stopped), as Azure ML re-runs a step whose node was lost. A script that "
                        "exits with an error is not retried. A DAG's own retries win.",
                        "step_retries",
                        "integer",
                    ),
                    "step_retry_delay": _option(
                        "Seconds between a step's try that did not finish and its retry.",
                        "step_retry_delay",
                        "integer",
                    ),
                    "assignable_datastores": _option(
                        "Datastores that any run of any pipeline may read through DataPathAssignments "
                        "(comma-separated), besides those the pipeline itself declares.",
                        "assignable_datastores",
                        example="shared_data,reference_data",
                    ),
                    "pipeline_bundle": _option(
                        "The DAG bundle (of [dag_processor] dag_bundle_config_list) that pipelines submitted and "
                        "published from notebooks are written into.",
                        "pipeline_bundle",
                    ),
                    "parse_timeout": _option(
                        "Seconds a submit or publish from a notebook waits for the dag-processor to parse the "
                        "new pipeline before it fails (the definition is then removed).",
                        "parse_timeout",
                        "integer",
                    ),
                    "conda_channels": _option(
                        "Conda channels (comma-separated URLs, file:// included) that the conda packages of a "
                        "container step's environment are solved from, with py-rattler on the worker; the solved "
                        "packages are copied into the step's image, on its PYTHONPATH. Empty: conda packages are "
                        "installed with pip under the same names.",
                        "conda_channels",
                        example="https://conda.anaconda.org/conda-forge",
                    ),
                },
            }
        },
    }
