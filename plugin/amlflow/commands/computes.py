"""Write the Airflow connections of the compute targets that DAG files attach (run at deploy time).

``ComputeTarget.attach(ws, name, DatabricksCompute.attach_configuration(...))`` at the top of a DAG file
only records the target: a DAG file is parsed many times and parsing never writes the database.
``amlflow computes sync`` parses the DAG folder, collects the attached targets, and creates the missing
``databricks`` connection of each (id = target name, host = its workspace URL, token as the password).
An existing connection is left alone unless ``--update`` is given. ``amlflow computes list`` prints what
it found, without secrets and without touching the database.
"""

from __future__ import annotations

import argparse
import json
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``amlflow computes``."""
    parser.add_argument("action", choices=["sync", "list"])
    parser.add_argument("paths", nargs="*", help="DAG files or folders to read (default: [core] dags_folder)")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="workspace URL of a Databricks target whose attach configuration has no workspace_url",
    )
    parser.add_argument("--update", action="store_true", help="overwrite connections that already exist")


def attached_computes(paths: list[str] | None = None) -> dict:
    """Name -> attached target, from parsing the DAG files (and folders of them) in ``paths``."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    from amlflow.core.compute import attached_targets

    for path in paths or [conf.get("core", "dags_folder")]:
        # A file named on the command line is read even without Airflow's "airflow"/"dag" words.
        DagBag(dag_folder=path, safe_mode=not os.path.isfile(path))
    return attached_targets()


def databricks_connection(target, host: str | None):
    """The Airflow connection of an attached Databricks target."""
    from airflow.models.connection import Connection

    config = target._attach_configuration
    url = host or config.workspace_url
    if not url:
        raise SystemExit(
            f"compute target {target.name!r}: no workspace URL; pass --host {target.name}=https://adb-<id>.azuredatabricks.net"
            " or workspace_url= to DatabricksCompute.attach_configuration"
        )
    extra = {}
    if config.resource_group and config.workspace_name and target.workspace.subscription_id:
        extra["azure_resource_id"] = (
            f"/subscriptions/{target.workspace.subscription_id}/resourceGroups/{config.resource_group}"
            f"/providers/Microsoft.Databricks/workspaces/{config.workspace_name}"
        )
    return Connection(
        conn_id=target.name,
        conn_type="databricks",
        description=f"amlflow compute target {target.name} (DatabricksCompute)",
        **_url_parts(url),
        password=config.access_token,
        extra=json.dumps(extra) if extra else None,
    )


def _url_parts(url: str) -> dict:
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"https://{url}")
    return {"host": parts.hostname, "port": parts.port, "schema": parts.scheme}


def run(args: argparse.Namespace) -> int:
    """``sync``: write a Databricks connection per attached Databricks compute of the DAG files (existing ones kept
    unless ``--update``); ``list``: print them with their workspace URL.
    """
    from amlflow.core.compute import DatabricksCompute

    hosts = dict(item.split("=", 1) for item in args.host)
    targets = {n: t for n, t in attached_computes(args.paths).items() if isinstance(t, DatabricksCompute)}
    if args.action == "sync":
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session

        with create_session() as session:
            for name, target in sorted(targets.items()):
                existing = session.query(Connection).filter_by(conn_id=name).one_or_none()
                if existing is not None and not args.update:
                    print(f"{name}\tDatabricks\tconnection exists, left as is")
                    continue
                if existing is not None:
                    session.delete(existing)
                    session.flush()
                session.add(databricks_connection(target, hosts.get(name)))
                print(f"{name}\tDatabricks\tconnection {'updated' if existing else 'created'}")
        return 0
    for name, target in sorted(targets.items()):
        url = hosts.get(name) or target._attach_configuration.workspace_url or "(no workspace URL)"
        print(f"{name}\tDatabricks\t{url}")
    return 0
