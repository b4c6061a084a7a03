"""Airflow DAGs from the pipeline definitions in ``pipelines/``: YAML files and AML-style Python modules.

Each ``pipelines/<name>.yaml`` is the DAG ``<name>``. When Airflow runs a task it re-parses this file
and only that task's pipeline is built. A definition with an error is skipped here (the others still
load) and reported by ``pipelines_check.py`` as its import error. ``pipelines/`` is in .airflowignore:
only this file reads it.
"""

import os

from amlflow.factory.folder_loader import load_pipelines

load_pipelines(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipelines"))
