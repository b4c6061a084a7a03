"""Reports the errors of the pipeline definitions in ``pipelines/`` as this file's Airflow import error.

``pipelines_loader.py`` skips a bad definition so that it never hides the good ones; this file, which
holds no DAG, raises one error listing each problem as ``file:line:column: step.field: message``:
the UI shows it in its import-errors banner, the REST API at ``GET /api/v2/importErrors``.
"""

import os

from amlflow.factory.folder_loader import check_pipelines

check_pipelines(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipelines"))
