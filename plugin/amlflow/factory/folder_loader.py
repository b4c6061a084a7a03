"""Many pipelines from one folder: YAML definitions and AML-style Python modules, for one loader DAG file.

``load_pipelines(folder)`` is what a loader file in the DAG folder calls (``dags/pipelines_loader.py``).
Each definition in ``folder`` (not its sub-folders, which hold step scripts) is one pipeline:
``<name>.yaml``/``<name>.yml`` is the DAG ``<name>``; ``<name>.py`` is a module run as Airflow would
run a DAG file, publishing whatever it publishes (by convention, the pipeline ``<name>``).

**Task start-up costs one pipeline.** Airflow's task runner re-parses the loader file before every
task, with ``get_parsing_context().dag_id`` set. The loader then builds only the definition whose file
name is that DAG id (three ``stat`` calls, no definition read); a name that no file carries can only
come from a Python module that publishes another name, so then the Python modules (only) are run.

**A bad definition hides nothing.** Each definition is built on its own; one that fails is skipped
(and logged), and Python modules that fail leave no DAG half-registered. The errors are reported by
``check_pipelines(folder)``, called from a second file (``dags/pipelines_check.py``) that holds no
DAG: it raises one ``PipelineDefinitionError`` listing every error as ``file:line:column: step.field:
message``, which Airflow stores as that file's import error (UI banner, ``GET /api/v2/importErrors``).
Raising from the loader itself is no option: Airflow 3.3 then keeps none of the file's DAGs, and an
import error on a file marks every DAG it holds stale (``dag_processing/collection.py``,
``_update_import_errors``), which hides the good pipelines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import runpy
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from amlflow.exceptions import PipelineValidationError
from amlflow.factory.yaml_errors import DefinitionError, PipelineDefinitionError
from amlflow.factory.yaml_loader import YAML_SUFFIXES, dag_from_yaml, read_pipeline
from amlflow.pipeline.core._source import dag_file

if TYPE_CHECKING:
    from airflow.sdk import DAG

log = logging.getLogger(__name__)

PYTHON_SUFFIX = ".py"
DEFINITION_SUFFIXES = (*YAML_SUFFIXES, PYTHON_SUFFIX)


@dataclass
class FolderLoad:
    """What loading a folder gave: DAGs, errors, and the definition files it read (in order)."""

    dags: list[DAG] = field(default_factory=list)
    errors: list[DefinitionError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def definition_files(folder: str, dag_id: str | None = None) -> list[str]:
    """The definition files of ``folder``, sorted; with ``dag_id``, only those that can define it."""
    if dag_id is not None:
        own = [os.path.join(folder, dag_id + s) for s in DEFINITION_SUFFIXES]
        own = sorted(path for path in own if os.path.isfile(path))  # the order of a full parse
        if own:
            return own
    names = sorted(
        n
        for n in os.listdir(folder)
        if n.endswith(DEFINITION_SUFFIXES if dag_id is None else (PYTHON_SUFFIX,))
        and not n.startswith((".", "_"))
        and os.path.isfile(os.path.join(folder, n))
    )
    return [os.path.join(folder, n) for n in names]


def load_pipelines(folder: str) -> FolderLoad:
    """Build the DAG of each definition in ``folder`` (only the running task's one at task start).

    Called at the top level of a DAG file, every DAG built is registered by Airflow for that file.
    """
    from airflow.sdk import get_parsing_context

    result = load_folder(folder, get_parsing_context().dag_id)
    for error in result.errors:
        log.warning("Pipeline definition skipped: %s", error)
    return result


def check_pipelines(folder: str) -> None:
    """Raise PipelineDefinitionError listing every error of every definition in ``folder``.

    YAML definitions are checked as the loader reads them, short of building their DAGs (their
    schedule is checked all the same); Python modules are run, without registering what they publish.
    """
    with _registration_off():
        result = load_folder(folder, build=False)
    if result.errors:
        raise PipelineDefinitionError(result.errors)


def build_unregistered(path: str, display: str) -> tuple[list[DAG], list[DefinitionError]]:
    """The DAGs of one definition file, or its errors, built (schedule and all) and registered nowhere."""
    with _registration_off():
        return load_file(path, display)


def load_folder(folder: str, dag_id: str | None = None, *, build: bool = True) -> FolderLoad:
    """Every definition of ``folder`` (or only those that can define ``dag_id``) as DAGs and errors.

    ``build=False`` checks YAML definitions without building their DAGs.
    """
    folder = os.path.abspath(folder)
    result = FolderLoad()
    owners: dict[str, str] = {}
    for path in definition_files(folder, dag_id):
        display = os.path.join(os.path.basename(folder), os.path.basename(path))
        result.files.append(path)
        dags, errors = load_file(path, display, build=build)
        for dag in dags:
            if dag.dag_id in owners:
                _unregister([dag])
                message = f"DAG id {dag.dag_id!r} is also defined by {owners[dag.dag_id]}"
                errors.append(DefinitionError(display, 1, 1, "name", message))
            else:
                owners[dag.dag_id] = display
                result.dags.append(dag)
        result.errors.extend(errors)
    return result


def load_file(path: str, display: str | None = None, *, build: bool = True) -> tuple[list[DAG], list[DefinitionError]]:
    """The DAGs one definition file makes, or the errors that stop it (then no DAG of it is registered)."""
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    display = display or path
    before = set(DagContext.autoregistered_dags)
    if path.endswith(YAML_SUFFIXES):
        dags, errors = _load_yaml(path, display, build)
    else:
        dags, errors = _run_module(path, display)
    registered = [dag for dag, _ in DagContext.autoregistered_dags - before]
    if errors:
        # Nothing half-written: a DAG the definition entered before failing is not registered.
        _unregister(registered)
        return [], errors
    found = {dag.dag_id: dag for dag in [*registered, *dags]}
    return [found[k] for k in sorted(found)], []


def _load_yaml(path: str, display: str, build: bool) -> tuple[list[DAG], list[DefinitionError]]:
    try:
        if not build:
            read_pipeline(path, display)
            return [], []
        return [dag_from_yaml(path, display)], []
    except PipelineDefinitionError as exc:
        return [], exc.errors


def _run_module(path: str, display: str) -> tuple[list[DAG], list[DefinitionError]]:
    """Run an AML-style pipeline module as Airflow runs a DAG file; the DAGs it holds, or its errors."""
    from airflow.sdk import DAG

    from amlflow.pipeline.core.graph import PublishedPipeline

    path = os.path.abspath(path)  # as Airflow runs DAG files: relative paths built from __file__ then hold
    try:
        with dag_file():  # publish() builds the DAG here, as in a DAG file Airflow parses
            namespace = runpy.run_path(path, run_name=f"amlflow_pipeline_{os.path.basename(path)[:-3]}")
    except Exception as exc:
        return [], _module_errors(exc, path, display)
    dags = [value.dag if isinstance(value, PublishedPipeline) else value for value in namespace.values()]
    return [dag for dag in dags if isinstance(dag, DAG)], []


def _module_errors(exc: BaseException, path: str, display: str) -> list[DefinitionError]:
    """Errors of a failed Python module, at the line of the module that raised."""
    if isinstance(exc, SyntaxError) and exc.filename == path:
        return [DefinitionError(display, exc.lineno or 1, exc.offset or 1, "pipeline", f"SyntaxError: {exc.msg}")]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == path]
    line = frames[-1].lineno or 1 if frames else 1
    if isinstance(exc, PipelineValidationError):
        errors = []
        for problem in exc.errors:
            where = f"{problem.step}.{problem.field}" if problem.step is not None else "pipeline"
            errors.append(DefinitionError(display, line, 1, where, problem.message))
        return errors
    return [DefinitionError(display, line, 1, "pipeline", f"{type(exc).__name__}: {exc}")]


def _unregister(dags: list[DAG]) -> None:
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    ids = {id(dag) for dag in dags}
    for entry in [e for e in DagContext.autoregistered_dags if id(e[0]) in ids]:
        DagContext.autoregistered_dags.discard(entry)


@contextlib.contextmanager
def _registration_off() -> Iterator[None]:
    """Build DAGs without Airflow registering them for the file being parsed (the check file holds none)."""
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    saved = DagContext.current_autoregister_module_name
    DagContext.current_autoregister_module_name = None
    try:
        yield
    finally:
        DagContext.current_autoregister_module_name = saved
