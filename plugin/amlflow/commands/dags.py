"""Copy a DAG folder into a datastore, where a ``DatastoreDagBundle`` serves it (run at deploy time).

``amlflow dags push FOLDER`` makes the files under ``--prefix`` in ``--datastore`` those of the folder:
each file is uploaded, and files gone from the folder are deleted, so a removed DAG file leaves the
deployment. Machines that share no disk then read the same DAG code: the dag-processor and every worker
copy the bundle (``[dag_processor] dag_bundle_config_list``). What a snapshot leaves out stays behind
(``__pycache__``, ``*.pyc``, ``.git``, and the folder's ``.amlignore`` or ``.gitignore``).
"""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``amlflow dags``."""
    parser.add_argument("action", choices=["push"])
    parser.add_argument("folder", help="the DAG folder to copy")
    parser.add_argument("--datastore", default="workspaceblobstore", help="datastore of the bundle")
    parser.add_argument("--prefix", default="amlflow-dags", help="the bundle's folder in the datastore")


def push(folder: str, datastore: str, prefix: str) -> tuple[list[str], list[str]]:
    """Upload ``folder`` under ``prefix`` of ``datastore`` and delete what it no longer has.

    Files in subfolders go first and the DAG files at the top last, so a bundle refreshed midway never
    parses a DAG whose scripts have not arrived. Answers the uploaded and the deleted paths (relative).
    """
    from amlflow.runtime.snapshot import source_files
    from amlflow.storage import get_backend

    if not os.path.isdir(folder):
        raise SystemExit(f"amlflow dags push: {folder!r} is not a folder")
    backend = get_backend(datastore)
    prefix = prefix.strip("/")
    local = sorted(source_files(folder), key=lambda path: ("/" not in path, path))
    for relative in local:
        backend.upload_file(os.path.join(folder, relative), f"{prefix}/{relative}")
    remote = {info.path[len(prefix) + 1 :] for info in backend.list_files(prefix)}
    stale = sorted(remote - set(local))
    for relative in stale:
        backend.delete(f"{prefix}/{relative}")
    return local, stale


def run(args: argparse.Namespace) -> int:
    """Push the folder; print one line per uploaded (``+``) and deleted (``-``) file."""
    uploaded, deleted = push(args.folder, args.datastore, args.prefix)
    for relative in uploaded:
        print(f"+ {args.prefix.strip('/')}/{relative}")
    for relative in deleted:
        print(f"- {args.prefix.strip('/')}/{relative}")
    return 0
