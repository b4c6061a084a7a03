"""Fit two models of y from x: a constant baseline and a least-squares line."""

import argparse
import csv
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True)
parser.add_argument("--output", required=True)
args = parser.parse_args()

with open(args.input) as handle:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(handle)]
train = rows[: len(rows) * 3 // 4]
xs, ys = [r[0] for r in train], [r[1] for r in train]
mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
slope = sum((x - mean_x) * (y - mean_y) for x, y in train) / sum((x - mean_x) ** 2 for x in xs)

os.makedirs(args.output, exist_ok=True)
models = {
    "baseline": {"slope": 0.0, "intercept": mean_y},
    "linear": {"slope": slope, "intercept": mean_y - slope * mean_x},
}
for name, model in models.items():
    with open(os.path.join(args.output, f"{name}.json"), "w") as handle:
        json.dump(model, handle)
print(f"trained {len(models)} models on {len(train)} rows; data from {args.input}")
