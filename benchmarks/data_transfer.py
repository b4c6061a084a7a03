"""DataTransferStep blob to blob against download-then-upload through the worker, on Azurite, same run.

1 GiB in 100 files sits in one container of a private Azurite. Each method copies it to another container
and is measured by wall time and by the bytes that crossed between the worker and the storage service (a
TCP relay in front of Azurite counts both directions; ``tests/byte_meter.py``):

- ours: what a DataTransferStep does for blob to blob, ``BlobBackend.copy_from`` (server-side Copy Blob,
  waiting for every copy to complete), then the step's check (listing the copies: sizes and MD5s);
- anchor: every file downloaded to the worker and uploaded again, with the same parallelism
  (``[amlflow] transfer_concurrency`` files at once, as many connections per file): the base
  ``DatastoreBackend.copy_from`` that any pair of datastores falls back to.

Rounds are interleaved; medians are printed with the ratio ours / anchor.

    .venv/bin/python benchmarks/data_transfer.py [--total-mib 1024] [--files 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "benchmarks", ".work", "data_transfer")
sys.path.insert(0, ROOT)

from tests.byte_meter import ByteMeter  # noqa: E402  (the tests' byte counter, reused)
from tests.fixtures.azurite import Azurite  # noqa: E402  (the tests' Azurite launcher, reused)


def blob_backend(azurite: Azurite, port: int, container: str):
    """The blob datastore of ``container``, reached through ``port`` (the meter's)."""
    from azure.storage.blob import BlobServiceClient

    from amlflow.storage.blob import BlobBackend

    connection = azurite.connection_string.replace(f":{azurite.port}/", f":{port}/")
    client = BlobServiceClient.from_connection_string(connection).get_container_client(container)
    return BlobBackend(container, container, "devstoreaccount1", lambda: client)


def fill(azurite: Azurite, total_mib: int, files: int) -> int:
    """Upload ``files`` files of ``total_mib / files`` MiB each (not through the meter); return the bytes."""
    container = azurite.container("bench-src")
    size = total_mib * (1 << 20) // files
    for index in range(files):
        block = hashlib.sha256(str(index).encode()).digest() * (1 << 15)  # 1 MiB, different per file
        data = (block * (size // len(block) + 1))[:size]
        container.upload_blob(f"data/part-{index:03d}.bin", data, overwrite=True, max_concurrency=8)
    return size * files


def measure(meter: ByteMeter, work) -> tuple[float, int]:
    meter.reset()
    start = time.perf_counter()
    work()
    return time.perf_counter() - start, meter.total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    from amlflow.storage.base import DatastoreBackend

    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    azurite = Azurite(tempfile.mkdtemp(prefix="azurite-", dir=WORK))
    azurite.start()
    meter = ByteMeter(azurite.port)
    try:
        total = fill(azurite, args.total_mib, args.files)
        azurite.container("bench-dst")
        source = blob_backend(azurite, meter.port, "bench-src")
        dest = blob_backend(azurite, meter.port, "bench-dst")

        def ours(round_: int) -> None:
            target = f"server-side-{round_}"
            assert dest.copy_from(source, "data", target) == args.files
            copies = dest.list_files(target)  # the step's check: every copy there, with its size and MD5
            assert len(copies) == args.files and sum(f.size for f in copies) == total
            for copy in copies:
                dest.delete(copy.path)

        def anchor(round_: int) -> None:
            target = f"through-worker-{round_}"
            assert DatastoreBackend.copy_from(dest, source, "data", target) == args.files
            for copy in dest.list_files(target):
                dest.delete(copy.path)

        results: dict[str, list[tuple[float, int]]] = {"ours": [], "anchor": []}
        for round_ in range(args.rounds):
            results["ours"].append(measure(meter, lambda r=round_: ours(r)))
            results["anchor"].append(measure(meter, lambda r=round_: anchor(r)))
    finally:
        meter.stop()
        azurite.stop()
        shutil.rmtree(WORK, ignore_errors=True)

    def median(name: str, index: int) -> float:
        return statistics.median(r[index] for r in results[name])

    mib = 1 << 20
    print(f"\n{args.files} files, {total / mib:.0f} MiB, blob to blob on Azurite, median of {args.rounds} rounds\n")
    print("| metric | DataTransferStep (server-side copy) | download + upload through the worker | ratio |")
    print("|---|---|---|---|")
    ours_s, anchor_s = median("ours", 0), median("anchor", 0)
    print(f"| wall time (s) | {ours_s:.2f} | {anchor_s:.2f} | {ours_s / anchor_s:.3f} |")
    ours_b, anchor_b = round(median("ours", 1)), round(median("anchor", 1))
    print(
        f"| bytes through the worker | {ours_b / mib:.2f} MiB ({ours_b:,}) | {anchor_b / mib:.0f} MiB ({anchor_b:,}) "
        f"| {ours_b / anchor_b:.5f} |"
    )


if __name__ == "__main__":
    main()
