import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--upper")
parser.add_argument("--out")
args = parser.parse_args()
with open(os.path.join(args.upper, "table.csv")) as handle:
    lines = handle.read().splitlines()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "count.json"), "w") as handle:
    json.dump({"rows": len(lines) - 1, "header": lines[0]}, handle)
