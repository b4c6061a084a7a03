"""Create the Airflow pools of the compute targets that pipelines use (run at deploy time).

``amlflow pools sync`` parses the DAG folder, finds every amlflow step placed on a compute target with
a size (an AmlCompute's ``max_nodes``), and creates or resizes the pool named after that target.
``amlflow pools list`` prints what it would create, without touching the database.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["sync", "list"])
    parser.add_argument("--dags-folder", help="DAG folder to read (default: [core] dags_folder)")


def compute_pools(dags_folder: str | None = None) -> dict[str, int]:
    """Pool name -> slots, from the compute targets of every amlflow task in the DAG folder."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder or conf.get("core", "dags_folder"), safe_mode=True)
    return pools_of(bag.dags.values())


def pools_of(dags: Iterable[Any]) -> dict[str, int]:
    """Pool name -> slots, from the compute targets of the amlflow tasks of ``dags``."""
    pools: dict[str, int] = {}
    for dag in dags:
        for task in dag.tasks:
            compute = getattr(task, "compute_target", None)
            if isinstance(compute, dict) and compute.get("pool_slots_total"):
                name = compute["name"]
                pools[name] = max(pools.get(name, 0), int(compute["pool_slots_total"]))
    return pools


def run(args: argparse.Namespace) -> int:
    pools = compute_pools(args.dags_folder)
    if args.action == "sync":
        sync_pools(pools)
    for name, slots in sorted(pools.items()):
        print(f"{name}\t{slots}")
    return 0


def sync_pools(pools: dict[str, int]) -> None:
    """Create or resize the pool of each compute target (the metadata database: deploy time only)."""
    from airflow.models.pool import Pool

    for name, slots in sorted(pools.items()):
        Pool.create_or_update_pool(name, slots, f"amlflow compute target {name}", include_deferred=False)
