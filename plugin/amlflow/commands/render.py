"""Print the DAG a pipeline definition makes: its tasks, edges and params, as text.

``amlflow render PATH`` (a YAML file or an AML-style Python module) shows what Airflow will run:
each task with its operator and the arguments it receives, the order between tasks, and the Params
a run can be triggered with. A definition with errors prints them, as ``amlflow validate`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

#: operator attributes shown for every task that has them, before its template fields
TASK_FIELDS = ("compute_target", "queue", "pool", "inputs", "outputs", "arguments")
#: what a task runs, the first of these it has
ENTRY_FIELDS = ("command_line", "script_name")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``amlflow render``."""
    parser.add_argument("path", metavar="PATH", help="a .yaml/.yml/.py pipeline definition")


def render_dag(dag: Any) -> str:
    """A readable listing of a DAG: its settings, params, tasks with their amlflow fields, and edges."""
    lines = [f"DAG {dag.dag_id}"]
    lines.append(f"  description: {dag.description or ''}")
    lines.append(f"  schedule: {dag.schedule}")
    lines.append(f"  tags: {', '.join(sorted(dag.tags))}")
    lines.append(f"  paused at creation: {dag.is_paused_upon_creation}")
    lines.append("params:")
    for name in sorted(dag.params):
        param = dag.params.get_param(name)
        lines.append(f"  {name} = {json.dumps(param.value)} ({param.schema.get('type', 'any')})")
    lines.append("tasks:")
    for task in sorted(dag.tasks, key=lambda t: t.task_id):
        lines.append(f"  {task.task_id}: {type(task).__name__}")
        shown = [f for f in TASK_FIELDS if hasattr(task, f)]
        shown += [f for f in task.template_fields if f not in shown]
        # What the step runs: a CommandStep's command line, else its script (a CommandStep has both names).
        entry = next((f for f in ENTRY_FIELDS if getattr(task, f, None)), None)
        for name in ([entry] if entry else []) + ["source_directory", *shown]:
            value = getattr(task, name, None)
            if value not in (None, "", [], {}) and name != "task_id":
                lines.append(f"    {name}: {json.dumps(value, default=str)}")
    lines.append("edges:")
    for task in sorted(dag.tasks, key=lambda t: t.task_id):
        lines.extend(f"  {task.task_id} -> {down}" for down in sorted(task.downstream_task_ids))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the DAGs of one definition file and its errors; exit status 1 if there are any."""
    from amlflow.commands.validate import definitions
    from amlflow.factory.folder_loader import load_file

    files = definitions(args.path)
    if not isinstance(files, list) or len(files) != 1 or files[0] != args.path:
        print(files if not isinstance(files, list) else f"{args.path}: name one definition file", file=sys.stderr)
        return 1
    dags, errors = load_file(args.path)
    for error in errors:
        print(error)
    print("\n\n".join(render_dag(dag) for dag in dags))
    return 1 if errors else 0
