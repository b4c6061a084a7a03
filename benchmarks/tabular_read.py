"""Reading a Tabular dataset of CSV files on blob storage: amlflow against pandas + azure-storage-blob, same run.

``--files`` CSV files (about ``--size-mib`` in all, a few % more; integer, float and string columns) go once to a
private Azurite (started from ``node_modules/``, like the tests). Each measurement then runs in a fresh
child process, so that memory does not mix, and reads every file into one DataFrame:

- ours: ``Dataset.Tabular.from_delimited_files((datastore, "bench/*.csv")).to_pandas_dataframe()`` on
  amlflow's blob datastore (an ``AIRFLOW_CONN_BENCHSTORE`` connection, as the tests give one);
- anchor: what a careful engineer writes with the SDK alone: list the blobs, and for each
  ``ContainerClient.download_blob(name, max_concurrency=8).readall()`` into memory, ``pandas.read_csv``
  of those bytes (released after parsing), then ``pandas.concat(..., ignore_index=True)``.

Wall time is the child's read (from before the first call to the DataFrame in hand; interpreter start and
imports are not counted), peak RSS is the child's ``ru_maxrss`` (so it includes the imports). Both sides
must return the same number of rows and columns. Runs are interleaved (who goes first alternates);
medians are printed with the ratio amlflow / anchor.

    .venv/bin/python benchmarks/tabular_read.py [--size-mib 1024] [--files 16] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "benchmarks", ".work", "tabular_read")
CONTAINER = "tabular-bench"
PREFIX = "bench/"
#: connections per blob on the anchor side, the same as amlflow's default ``transfer_concurrency``
CONCURRENCY = 8
sys.path.insert(0, ROOT)


# -- the data ------------------------------------------------------------------------------------------
def csv_body(size: int, seed: int) -> bytes:
    """About ``size`` bytes of CSV (whole rows): id, two floats, a count, a category and a name."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = max(1, size // 50)  # about 50 bytes a row
    frame = pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64) + seed * 10_000_000,
            "x": rng.normal(size=rows).round(6),
            "y": rng.uniform(0, 1000, size=rows).round(3),
            "count": rng.integers(0, 100_000, size=rows),
            "category": rng.choice([f"cat-{i:02d}" for i in range(20)], size=rows),
            "name": np.char.add("item-", rng.integers(0, 10**9, size=rows).astype(str)),
        }
    )
    return frame.to_csv(index=False).encode()


def fill(azurite, size_mib: int, files: int) -> tuple[int, int]:
    """Upload the files; return (bytes, rows). Distinct seeds for the first two files, then repeated."""
    container = azurite.container(CONTAINER)
    size = size_mib * (1 << 20) // files
    bodies = [csv_body(size, seed) for seed in range(min(2, files))]
    total = rows = 0
    for index in range(files):
        body = bodies[index % len(bodies)]
        container.upload_blob(f"{PREFIX}part-{index:03d}.csv", body, overwrite=True, max_concurrency=CONCURRENCY)
        total += len(body)
        rows += body.count(b"\n") - 1
    return total, rows


# -- the two sides (each in its own child process) -------------------------------------------------------
def read_ours() -> tuple[object, dict]:
    from amlflow.core import Dataset, Datastore, Workspace

    start = time.perf_counter()
    datastore = Datastore(Workspace(), "benchstore")  # the first use of amlflow's config imports Airflow
    ready = time.perf_counter()
    frame = Dataset.Tabular.from_delimited_files((datastore, PREFIX + "*.csv")).to_pandas_dataframe()
    end = time.perf_counter()
    return frame, {"seconds": end - start, "startup": ready - start, "read": end - ready}


def read_anchor() -> tuple[object, dict]:
    import pandas as pd
    from azure.storage.blob import ContainerClient

    start = time.perf_counter()
    client = ContainerClient.from_connection_string(os.environ["BENCH_CONNECTION_STRING"], CONTAINER)
    names = sorted(blob.name for blob in client.list_blobs(name_starts_with=PREFIX) if blob.name.endswith(".csv"))
    frames, download, parse = [], 0.0, 0.0
    for name in names:
        t0 = time.perf_counter()
        data = client.download_blob(name, max_concurrency=CONCURRENCY).readall()
        t1 = time.perf_counter()
        frames.append(pd.read_csv(io.BytesIO(data)))
        del data
        parse += time.perf_counter() - t1
        download += t1 - t0
    frame = pd.concat(frames, ignore_index=True)
    del frames
    end = time.perf_counter()
    return frame, {"seconds": end - start, "startup": 0.0, "read": end - start, "download": download, "parse": parse}


def child(side: str) -> None:
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    frame, result = (read_ours if side == "ours" else read_anchor)()
    result.update(
        rows=int(frame.shape[0]),
        columns=int(frame.shape[1]),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
    )
    print("RESULT " + json.dumps(result))


def measure(side: str, env: dict[str, str]) -> dict:
    answer = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", side], env=env, capture_output=True, text=True
    )
    if answer.returncode != 0:
        raise SystemExit(f"{side} child failed ({answer.returncode}):\n{answer.stdout}\n{answer.stderr}")
    line = next(line for line in answer.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["ours", "anchor"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    from tests.fixtures.azurite import Azurite  # the tests' Azurite launcher, reused

    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    azurite = Azurite(tempfile.mkdtemp(prefix="azurite-", dir=WORK))
    azurite.start()
    results: dict[str, list[dict]] = {"ours": [], "anchor": []}
    try:
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
        start = time.perf_counter()
        total, rows = fill(azurite, args.size_mib, args.files)
        print(f"Azurite on port {azurite.port}; uploaded {args.files} files, {total / (1 << 20):.0f} MiB, "
              f"{rows:,} rows in {time.perf_counter() - start:.1f} s")  # fmt: skip
        home = tempfile.mkdtemp(prefix="home-", dir=WORK)
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_BENCHSTORE": azurite.connection_json(CONTAINER),
            "BENCH_CONNECTION_STRING": azurite.connection_string,
            "TMPDIR": WORK,  # amlflow's scratch files on the same disk as the rest
        }
        for run in range(args.runs):
            order = ["ours", "anchor"] if run % 2 == 0 else ["anchor", "ours"]
            for side in order:
                result = measure(side, env)
                assert result["rows"] == rows, (side, result["rows"], rows)
                results[side].append(result)
                print(f"run {run + 1} {side}: {json.dumps(result)}", flush=True)
    finally:
        azurite.stop()
        shutil.rmtree(WORK, ignore_errors=True)

    ours, anchor = results["ours"], results["anchor"]
    assert all(r["columns"] == ours[0]["columns"] for r in ours + anchor)

    def median(side: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in side)

    print(f"\n{args.files} CSV files, {total / (1 << 20):.0f} MiB, {rows:,} rows, on Azurite; "
          f"median of {args.runs} runs, each in a fresh process\n")  # fmt: skip
    print("| metric | amlflow | pandas + azure-storage-blob | ratio |")
    print("|---|---|---|---|")
    for label, key, fmt in (
        ("wall time (s)", "seconds", ".2f"),
        ("  of which: first use of the datastore (imports Airflow) (s)", "startup", ".2f"),
        ("  of which: listing, download and parse (s)", "read", ".2f"),
        ("peak RSS of the process (MiB)", "peak_rss_mib", ".0f"),
    ):
        a, b = median(ours, key), median(anchor, key)
        print(f"| {label} | {a:{fmt}} | {b:{fmt}} | {a / b:.2f} |" if b else f"| {label} | {a:{fmt}} | - | - |")
    print(f"| rows read | {ours[0]['rows']:,} | {anchor[0]['rows']:,} | 1.00 |")
    print(f"\nanchor's split (median): download {median(anchor, 'download'):.2f} s, "
          f"read_csv {median(anchor, 'parse'):.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
