import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--kept")
parser.add_argument("--out")
args = parser.parse_args()
with open(os.path.join(args.kept, "kept.txt")) as handle:
    kept = [int(line) for line in handle if line.strip()]
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "report.json"), "w") as handle:
    json.dump({"kept": kept, "kept_from": args.kept}, handle)
