"""Blob transfers: amlflow's blob datastore against plain azure-storage-blob, on Azurite, same run.

1. One big file (256 MiB) and 1,000 small files, uploaded and downloaded through the datastore
   (``BlobBackend.upload_file``/``download_file`` for the big file, ``Datastore.upload``/``download`` for
   the folder) and through plain azure-storage-blob at its best settings: ``max_concurrency`` for the big
   file and a thread pool for the small files. Both sides run at concurrency 4, 8 and 16 (for amlflow:
   ``[amlflow] transfer_concurrency``), rounds interleaved; the best median of each side is printed with
   the ratio plain time / amlflow time (goal: >= 0.9), and amlflow at its default setting against the
   plain SDK at its best.
2. Bytes moved through the worker per PipelineData edge: a pipeline whose producer writes an output to the
   blob datastore and two consumers read it (one mount, one download), run with ``dag.test()``. Every
   datastore transfer is counted (instrumented ``BlobBackend``) and so is every request Azurite served
   for the output's path (its access log). Goal: one upload by the producer, one download per consumer.

    .venv/bin/python benchmarks/transfer.py [--big-mib 256] [--small 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "benchmarks", ".work", "transfer")
sys.path.insert(0, ROOT)

from private_airflow import use_private_airflow  # noqa: E402  (benchmarks/ is on sys.path)

from amlflow.config import DEFAULTS  # noqa: E402
from tests.fixtures.azurite import Azurite  # noqa: E402  (the tests' Azurite launcher, reused)

CONTAINER = "bench"
SMALL_SIZE = 10 * 1024
CONCURRENCIES = (4, 8, 16)


def prepare_airflow() -> str:
    home = tempfile.mkdtemp(prefix="home-", dir=WORK)
    dags = os.path.join(home, "dags")
    os.makedirs(os.path.join(dags, "scripts"))
    use_private_airflow(home, dags)
    return dags


def make_files(big_mib: int, small: int) -> tuple[str, str]:
    big = os.path.join(WORK, "big.bin")
    with open(big, "wb") as handle:
        for _ in range(big_mib):
            handle.write(os.urandom(1 << 20))
    folder = os.path.join(WORK, "small")
    for i in range(small):
        sub = os.path.join(folder, f"part-{i // 100:02d}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"{i:05d}.bin"), "wb") as handle:
            handle.write(os.urandom(SMALL_SIZE))
    return big, folder


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


# -- plain azure-storage-blob ------------------------------------------------------------------------
class Plain:
    def __init__(self, connection_string: str) -> None:
        from azure.storage.blob import BlobServiceClient

        self.container = BlobServiceClient.from_connection_string(connection_string).get_container_client(CONTAINER)

    def upload_big(self, local: str, concurrency: int) -> None:
        with open(local, "rb") as handle:
            self.container.upload_blob(
                "plain/big.bin", handle, length=os.path.getsize(local), overwrite=True, max_concurrency=concurrency
            )

    def download_big(self, local: str, concurrency: int) -> None:
        with open(local, "wb") as handle:
            self.container.download_blob("plain/big.bin", max_concurrency=concurrency).readinto(handle)

    def upload_small(self, folder: str, concurrency: int) -> None:
        pairs = [
            (os.path.join(root, n), "plain/small/" + os.path.relpath(os.path.join(root, n), folder))
            for root, _dirs, names in os.walk(folder)
            for n in names
        ]

        def send(pair: tuple[str, str]) -> None:
            with open(pair[0], "rb") as handle:
                self.container.upload_blob(pair[1], handle, overwrite=True)

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(send, pairs))

    def download_small(self, target: str, concurrency: int) -> None:
        names = [b.name for b in self.container.list_blobs(name_starts_with="plain/small/")]

        def fetch(name: str) -> None:
            local = os.path.join(target, *name.split("/"))
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local, "wb") as handle:
                self.container.download_blob(name).readinto(handle)

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(fetch, names))


# -- amlflow's datastore -------------------------------------------------------------------------------
class Ours:
    def __init__(self, concurrency: int) -> None:
        from amlflow.core import Datastore, Workspace
        from amlflow.storage.registry import forget_backends

        os.environ["AIRFLOW__AMLFLOW__TRANSFER_CONCURRENCY"] = str(concurrency)
        forget_backends()
        self.datastore = Datastore(Workspace(), "benchstore")
        self.backend = self.datastore.backend

    def upload_big(self, local: str) -> None:
        self.backend.upload_file(local, "ours/big.bin")

    def download_big(self, local: str) -> None:
        self.backend.download_file("ours/big.bin", local)

    def upload_small(self, folder: str) -> None:
        self.datastore.upload(folder, target_path="ours/small", overwrite=True, show_progress=False)

    def download_small(self, target: str) -> None:
        self.datastore.download(target, prefix="ours/small", overwrite=True, show_progress=False)


def fresh(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def compare(
    plain_run: Callable[[int], None], ours_run: Callable[[Ours], None], rounds: int
) -> dict[int, tuple[float, float]]:
    """{concurrency: (median amlflow time, median plain time)}: at each concurrency, after one warm-up
    each, ``rounds`` runs of both sides, interleaved (who goes first alternates)."""
    medians = {}
    for concurrency in CONCURRENCIES:
        ours = Ours(concurrency)
        ours_run(ours)
        plain_run(concurrency)
        plain_times, ours_times = [], []
        for i in range(rounds):
            pair = [(plain_times, lambda c=concurrency: plain_run(c)), (ours_times, lambda o=ours: ours_run(o))]
            for times, run in pair if i % 2 == 0 else reversed(pair):
                times.append(timed(run))
        medians[concurrency] = statistics.median(ours_times), statistics.median(plain_times)
    return medians


def transfers(azurite: Azurite, big_mib: int, small: int, rounds: int) -> list[tuple[str, dict]]:
    big, folder = make_files(big_mib, small)
    plain = Plain(azurite.connection_string)
    back = os.path.join(WORK, "back.bin")
    cases = {
        f"upload 1 x {big_mib} MiB": (lambda c: plain.upload_big(big, c), lambda o: o.upload_big(big)),
        f"download 1 x {big_mib} MiB": (lambda c: plain.download_big(back, c), lambda o: o.download_big(back)),
        f"upload {small:,} x {SMALL_SIZE // 1024} KiB": (
            lambda c: plain.upload_small(folder, c),
            lambda o: o.upload_small(folder),
        ),
        f"download {small:,} x {SMALL_SIZE // 1024} KiB": (
            lambda c: plain.download_small(fresh(os.path.join(WORK, "plain-back")), c),
            lambda o: o.download_small(fresh(os.path.join(WORK, "ours-back"))),
        ),
    }
    rows = []
    for label, (plain_run, ours_run) in cases.items():
        medians = compare(plain_run, ours_run, rounds)
        rows.append((label, medians))
        print(
            f"  {label}: " + ", ".join(f"at {c}: amlflow {o:.2f} s, plain {p:.2f} s" for c, (o, p) in medians.items())
        )
    return rows


# -- bytes per PipelineData edge ---------------------------------------------------------------------------
EDGE_DAG = """
from amlflow.core import Datastore, Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
data = PipelineData("data", datastore=Datastore(ws, "benchstore"))
produce = PythonScriptStep("produce.py", arguments=[data, MIB], outputs=[data], source_directory="scripts")
mount = PythonScriptStep("consume.py", name="consume_mount", arguments=[data], inputs=[data],
                         source_directory="scripts")
as_download = data.as_download(input_name="data_download")
download = PythonScriptStep("consume.py", name="consume_download", arguments=[as_download], inputs=[as_download],
                            source_directory="scripts")
Pipeline(ws, [mount, download]).publish(name="transfer_edge")
"""

EDGE_SCRIPTS = {
    "produce.py": """
        import os, sys
        out, mib = sys.argv[1], int(sys.argv[2])
        os.makedirs(out, exist_ok=True)
        for name, share in (("a.bin", 2), ("b.bin", 1), ("c.bin", 1)):
            with open(os.path.join(out, name), "wb") as handle:
                handle.write(os.urandom(mib * share * (1 << 20) // 4))
    """,
    "consume.py": """
        import os, sys
        total = sum(os.path.getsize(os.path.join(r, n)) for r, _d, names in os.walk(sys.argv[1]) for n in names)
        print("read", total, "bytes")
    """,
}


def edge(azurite: Azurite, dags: str, mib: int) -> dict[str, object]:
    from amlflow.storage import blob

    for name, body in EDGE_SCRIPTS.items():
        with open(os.path.join(dags, "scripts", name), "w") as handle:
            handle.write(textwrap.dedent(body))
    with open(os.path.join(dags, ".airflowignore"), "w") as handle:
        handle.write("scripts/\n")
    dag_file = os.path.join(dags, "transfer_edge.py")
    with open(dag_file, "w") as handle:
        handle.write(EDGE_DAG.replace("MIB", str(mib)))

    moved: list[tuple[str, str, int]] = []
    cls = blob.BlobBackend
    originals = {name: getattr(cls, name) for name in ("upload_file", "download_file", "read_bytes", "write_bytes")}

    def counting(name: str, size_of: Callable[..., int]):
        def wrapper(self, *args):
            result = originals[name](self, *args)
            path = args[1] if name == "upload_file" else args[0]
            moved.append((name, path, size_of(args, result)))
            return result

        return wrapper

    cls.upload_file = counting("upload_file", lambda a, r: os.path.getsize(a[0]))
    cls.download_file = counting("download_file", lambda a, r: os.path.getsize(a[1]))
    cls.read_bytes = counting("read_bytes", lambda a, r: len(r))
    cls.write_bytes = counting("write_bytes", lambda a, r: len(a[1]))
    log_start = os.path.getsize(azurite.log_path)
    try:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=dag_file, safe_mode=True)
        assert not bag.import_errors, bag.import_errors
        run = bag.get_dag("transfer_edge").test()
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    with open(azurite.log_path, "rb") as handle:
        handle.seek(log_start)
        requests = handle.read().decode(errors="replace").splitlines()
    prefix = "amlflow/transfer_edge/"
    output = [m for m in moved if m[1].startswith(prefix)]
    data_size = sum(m[2] for m in output if m[0] == "upload_file")
    counted = collections.Counter()
    for line in requests:
        found = re.search(r'"(GET|PUT|HEAD|DELETE) /devstoreaccount1/' + CONTAINER + r"/([^? ]+)(\?[^ ]*)? ", line)
        if found and found.group(2).startswith(prefix):
            kind = "manifest" if found.group(2).endswith(".manifest.json") else "data"
            counted[(found.group(1), kind)] += 1
    return {
        "states": states,
        "output_bytes": data_size,
        "uploads": [m for m in output if m[0] == "upload_file"],
        "downloads": [m for m in output if m[0] == "download_file"],
        "manifest_writes": [m for m in output if m[0] == "write_bytes"],
        "manifest_reads": [m for m in output if m[0] == "read_bytes"],
        "other": [m for m in moved if not m[1].startswith(prefix)],
        "requests": counted,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--edge-mib", type=int, default=64)
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    dags = prepare_airflow()
    azurite = Azurite(os.path.join(WORK, "azurite"))
    os.makedirs(azurite.location)
    azurite.start()
    try:
        azurite.container(CONTAINER)
        os.environ["AIRFLOW_CONN_BENCHSTORE"] = azurite.connection_json(CONTAINER)
        # as WasbHook does for amlflow: per-request INFO logging of the SDK would slow the plain side only
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
        print(f"Azurite on port {azurite.port}")
        rows = transfers(azurite, args.big_mib, args.small, args.rounds)
        os.environ.pop("AIRFLOW__AMLFLOW__TRANSFER_CONCURRENCY")  # the pipeline runs with the default
        counts = edge(azurite, dags, args.edge_mib)
    finally:
        azurite.stop()
        shutil.rmtree(WORK, ignore_errors=True)

    print()
    default = int(DEFAULTS["transfer_concurrency"])
    print(
        f"| transfer (median of {args.rounds}) | amlflow datastore, best | plain azure-storage-blob, best "
        f"| ratio plain/amlflow | amlflow at the default ({default}) | ratio |"
    )
    print("|---|---|---|---|---|---|")
    for label, medians in rows:
        unit, amount = ("MiB/s", args.big_mib) if "MiB" in label else ("files/s", args.small)
        best_ours = min(medians, key=lambda c: medians[c][0])
        best_plain = min(medians, key=lambda c: medians[c][1])
        ours_s, plain_s, default_s = medians[best_ours][0], medians[best_plain][1], medians[default][0]
        print(
            f"| {label} | {ours_s:.2f} s, {amount / ours_s:.0f} {unit} ({best_ours}) "
            f"| {plain_s:.2f} s, {amount / plain_s:.0f} {unit} ({best_plain}) | {plain_s / ours_s:.2f} "
            f"| {default_s:.2f} s | {plain_s / default_s:.2f} |"
        )
    mib = counts["output_bytes"] / (1 << 20)
    requests = counts["requests"]
    print()
    print(f"PipelineData edge: one producer, two consumers (mount, download); output {mib:.0f} MiB in 3 files")
    print()
    print("| moved through the worker | files | bytes | per output byte |")
    print("|---|---|---|---|")
    for label, key in (("producer upload", "uploads"), ("consumer downloads", "downloads")):
        size = sum(m[2] for m in counts[key])
        print(f"| {label} | {len(counts[key])} | {size:,} | {size / counts['output_bytes']:.2f} |")
    for label, key in (("manifest write", "manifest_writes"), ("manifest reads", "manifest_reads")):
        size = sum(m[2] for m in counts[key])
        print(f"| {label} | {len(counts[key])} | {size:,} | {size / counts['output_bytes']:.5f} |")
    print()
    print(
        "Azurite requests on the output's path: "
        + ", ".join(f"{verb} {kind}: {n}" for (verb, kind), n in sorted(requests.items()))
    )
    print(f"Transfers of anything else through the datastore: {len(counts['other'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
