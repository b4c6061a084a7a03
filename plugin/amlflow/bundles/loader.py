"""What a pipeline bundle's loader file calls: build the DAG of its definition (a pipeline or a schedule)."""

from __future__ import annotations

import json
import os

from amlflow.bundles.layout import DEFINITIONS


def load_definition(loader_file: str) -> None:
    """Build the DAG of ``definitions/<name>.yaml`` beside ``loader_file`` (Airflow registers it).

    A definition that fails is this file's import error only: every pipeline has a file of its own.
    """
    from amlflow.factory.yaml_loader import dag_from_yaml

    folder, name = os.path.split(os.path.abspath(loader_file))
    definition = os.path.join(folder, DEFINITIONS, os.path.splitext(name)[0] + ".yaml")
    dag_from_yaml(definition, os.path.join(DEFINITIONS, os.path.basename(definition)))


def load_schedule(loader_file: str) -> None:
    """Build the scheduling DAG of ``definitions/<name>.json`` beside ``loader_file`` (Airflow registers it)."""
    from amlflow.factory.schedule_dag import schedule_dag

    folder, name = os.path.split(os.path.abspath(loader_file))
    with open(os.path.join(folder, DEFINITIONS, os.path.splitext(name)[0] + ".json"), encoding="utf-8") as handle:
        schedule_dag(json.load(handle))
