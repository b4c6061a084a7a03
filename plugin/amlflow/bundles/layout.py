"""The files of the pipeline bundle: one loader file per pipeline, its YAML definition, code snapshots.

::

    <bundle>/.airflowignore              definitions/, snapshots/, .staging/: only the loaders are DAG files
    <bundle>/<dag_id>.py                 loads definitions/<dag_id>.yaml (one DAG per file)
    <bundle>/definitions/<dag_id>.yaml   the pipeline, as the YAML loader reads it
    <bundle>/definitions/<dag_id>.json   a schedule: the DAG that runs a pipeline on its recurrence or blob changes
    <bundle>/snapshots/<hash>/...        a step's source directory, by content hash

A definition names its snapshots as ``../snapshots/<hash>`` (relative to the definition), so the same
file works in every copy of the bundle. One loader per pipeline keeps a task's start-up parse to one
definition, and lets the dag-processor be asked to parse exactly the new file. Definitions never
change once written (their DAG id holds their content hash), so a run never sees its graph or code
change under it. A schedule's definition is rewritten when the schedule changes (a new DAG version).
"""

from __future__ import annotations

import re

DEFINITIONS = "definitions"
SNAPSHOTS = "snapshots"
STAGING = ".staging"
IGNORE_FILE = ".airflowignore"
IGNORE_TEXT = f"{DEFINITIONS}/\n{SNAPSHOTS}/\n{STAGING}/\n"
SNAPSHOT_HASH = re.compile(r"^[0-9a-f]{64}$")
#: How a definition names a snapshot folder (``source_directory``), and each such name in its text.
SNAPSHOT_REFERENCE = re.compile(r"^\.\./" + SNAPSHOTS + r"/([0-9a-f]{64})$")
SNAPSHOT_REFERENCE_IN_TEXT = re.compile(r"\.\./" + SNAPSHOTS + r"/([0-9a-f]{64})")


def definition_path(dag_id: str) -> str:
    """The bundle path of the pipeline ``dag_id``'s definition."""
    return f"{DEFINITIONS}/{dag_id}.yaml"


def schedule_path(dag_id: str) -> str:
    """The bundle path of the schedule ``dag_id``'s definition."""
    return f"{DEFINITIONS}/{dag_id}.json"


def loader_path(dag_id: str) -> str:
    """The bundle path of the loader file the dag-processor parses for ``dag_id``."""
    return f"{dag_id}.py"


def snapshot_path(content_hash: str) -> str:
    """The bundle folder of the code snapshot ``content_hash``."""
    return f"{SNAPSHOTS}/{content_hash}"


def snapshot_reference(content_hash: str) -> str:
    """What a definition's ``source_directory`` says for a snapshot."""
    return f"../{snapshot_path(content_hash)}"


def loader_text(dag_id: str) -> str:
    """The text of the loader file that builds the pipeline ``dag_id`` from its definition."""
    return _loader(
        dag_id, f"the amlflow pipeline of {definition_path(dag_id)}, sent from a notebook", "load_definition"
    )


def schedule_loader_text(dag_id: str) -> str:
    """The text of the loader file that builds the schedule DAG ``dag_id`` from its definition."""
    return _loader(dag_id, f"the amlflow schedule of {schedule_path(dag_id)}", "load_schedule")


def _loader(dag_id: str, what: str, function: str) -> str:
    # The words "airflow" and "dag" let Airflow's safe-mode discovery parse the file.
    return (
        f'"""Airflow DAG {dag_id}: {what}.\n\n'
        'Written by the amlflow plugin of the api-server; do not edit.\n"""\n\n'
        f"from amlflow.bundles.loader import {function}\n\n"
        f"{function}(__file__)\n"
    )
