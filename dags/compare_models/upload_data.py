"""Make the example's input data (a small, fixed, synthetic regression set) and upload it.

Run once before the first run of ``Compare_Models``; it is the seed's ``upload_files`` step.
"""

import os
import random
import sys
import tempfile

from amlflow.core import Datastore, Workspace


def make_rows(count: int = 400, seed: int = 20) -> list[str]:
    rng = random.Random(seed)
    rows = ["x,y"]
    for _ in range(count):
        x = rng.uniform(0, 10)
        rows.append(f"{x:.4f},{3.0 * x + 2.0 + rng.gauss(0, 1.5):.4f}")
    return rows


def main() -> int:
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "20news.csv")
    with open(path, "w") as handle:
        handle.write("\n".join(make_rows()) + "\n")
    ws = Workspace.from_config()
    Datastore(ws, "workspaceblobstore").upload_files([path], target_path="20newsgroups", overwrite=True)
    print("uploaded 20newsgroups/20news.csv to workspaceblobstore")
    return 0


if __name__ == "__main__":
    sys.exit(main())
