"""Where a step's input lands on the worker: ``path_on_compute``, kept inside the task's working folder."""

from __future__ import annotations

import os
from typing import Any

from amlflow.exceptions import StepFailedError


def input_path(workdir: str, spec: dict[str, Any], default_folder: str) -> str:
    """The local path of input ``spec``: its ``path_on_compute``, else ``<default_folder>/<name>``, in ``workdir``.

    Azure ML puts an absolute ``path_on_compute`` (the batch-scoring tutorial's ``/tmp/<uuid>``) at that path
    of a node the job has to itself. A worker runs tasks of many runs at once: there, tasks would overwrite
    each other's copy while their scripts read it, and leave it behind. So an absolute path is re-rooted
    under the task's working folder (``/tmp/x`` -> ``<workdir>/tmp/x``); the script gets that path, as it
    gets every input's, through its arguments and ``Run.input_datasets``.
    """
    given = spec.get("path_on_compute") or os.path.join(default_folder, spec["name"])
    root = os.path.normpath(workdir)
    local = os.path.normpath(os.path.join(root, given.lstrip("/")))
    if os.path.commonpath([root, local]) != root:
        raise StepFailedError(
            f"input {spec['name']!r}, field 'path_on_compute': {given!r} leads out of the step's working folder; "
            "give a path without '..'"
        )
    return local
