"""Score each trained model on the held-out quarter of the data (mean squared error)."""

import argparse
import csv
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--input_data", required=True)
parser.add_argument("--models", required=True)
parser.add_argument("--output_extract", required=True)
args = parser.parse_args()

with open(args.input_data) as handle:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(handle)]
holdout = rows[len(rows) * 3 // 4 :]

scores = {}
for name in sorted(os.listdir(args.models)):
    with open(os.path.join(args.models, name)) as handle:
        model = json.load(handle)
    errors = [(model["slope"] * x + model["intercept"] - y) ** 2 for x, y in holdout]
    scores[name.removesuffix(".json")] = sum(errors) / len(errors)

os.makedirs(args.output_extract, exist_ok=True)
with open(os.path.join(args.output_extract, "scores.json"), "w") as handle:
    json.dump(scores, handle, indent=1)
print(f"scored {len(scores)} models on {len(holdout)} held-out rows")
