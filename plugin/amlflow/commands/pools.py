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
    """The arguments of ``amlflow pools``."""
    parser.add_argument("action", choices=["sync", "list"])
    parser.add_argument("--dags-folder", help="DAG folder to read (default: [core] dags_folder)")


def compute_pools(dags_folder: str | None = None) -> dict[str, int]:
    """Pool name -> slots, from the compute targets of every amlflow task in the DAG folder."""
    return {name: slots for name, (slots, _kind) in compute_targets(dags_folder).items()}


def compute_targets(dags_folder: str | None = None) -> dict[str, tuple[int, str]]:
    """Compute target name -> (pool slots, type), from every amlflow task in the DAG folder."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder or conf.get("core", "dags_folder"), safe_mode=True)
    return compute_targets_of(bag.dags.values())


def compute_targets_of(dags: Iterable[Any]) -> dict[str, tuple[int, str]]:
    """Compute target name -> (pool slots, its type), from the amlflow tasks of ``dags`` (sized targets only)."""
    targets: dict[str, tuple[int, str]] = {}
    for dag in dags:
        for task in dag.tasks:
            compute = getattr(task, "compute_target", None)
            if isinstance(compute, dict) and compute.get("pool_slots_total"):
                name = compute["name"]
                slots = max(targets.get(name, (0, ""))[0], int(compute["pool_slots_total"]))
                targets[name] = (slots, compute.get("type") or "AmlCompute")
    return targets


def run(args: argparse.Namespace) -> int:
    """Print each compute target's pool and slots, after creating or resizing the pools for ``sync``."""
    targets = compute_targets(args.dags_folder)
    pools = {name: slots for name, (slots, _kind) in targets.items()}
    if args.action == "sync":
        sync_pools(pools, {name: kind for name, (_slots, kind) in targets.items()})
    for name, slots in sorted(pools.items()):
        print(f"{name}\t{slots}")
    return 0


#: A compute target's pool says so in its description: ``amlflow compute target <name> (<type>)``.
POOL_DESCRIPTION = "amlflow compute target {name} ({kind})"


def sync_pools(pools: dict[str, int], kinds: dict[str, str] | None = None) -> None:
    """Create or resize the pool of each compute target (the metadata database: deploy time only).

    ``kinds`` gives a target's type (default AmlCompute), kept in the pool's description: a notebook's
    ``ComputeTarget(ws, name)`` finds the target by it.
    """
    from airflow.models.pool import Pool

    for name, slots in sorted(pools.items()):
        description = POOL_DESCRIPTION.format(name=name, kind=(kinds or {}).get(name, "AmlCompute"))
        Pool.create_or_update_pool(name, slots, description, include_deferred=False)
