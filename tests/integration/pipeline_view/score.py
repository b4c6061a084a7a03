import argparse
import json
import os

from amlflow.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--factor", type=int)
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "scores.json"), "w") as handle:
    json.dump({"accuracy": 0.25 * args.factor}, handle)
run = Run.get_context()
run.log("accuracy", 0.25 * args.factor)
run.log_list("losses", [0.9, 0.5, 0.3])
run.log_row("curve", epoch=1, acc=0.5)
run.log_row("curve", epoch=2, acc=0.75)
run.log_table("confusion", {"label": ["a", "b"], "count": [3, 4]})
