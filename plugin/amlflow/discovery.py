"""Finding pipeline files that Airflow's safe-mode discovery would skip.

Airflow parses a file only if it contains the words "airflow" and "dag"; a pipeline ported from azureml
by renaming its imports has neither. Set ``[core] might_contain_dag_callable =
amlflow.discovery.might_contain_dag`` to also parse files that import amlflow and build a pipeline.
"""

from __future__ import annotations

import zipfile


def might_contain_dag(file_path: str, zip_file: zipfile.ZipFile | None = None) -> bool:
    """Airflow's check of whether a file may hold DAGs, also true for a file naming ``amlflow`` and ``pipeline``."""
    from airflow.utils.file import might_contain_dag_via_default_heuristic

    if might_contain_dag_via_default_heuristic(file_path, zip_file):
        return True
    if zip_file is not None:
        return False
    with open(file_path, "rb") as handle:
        content = handle.read().lower()
    return b"amlflow" in content and b"pipeline" in content
