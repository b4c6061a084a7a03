"""Compare the scored models and write a report; --param1 is how many models the report ranks."""

import argparse
import hashlib
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--comp_data1", required=True)
parser.add_argument("--comp_data2", required=True)
parser.add_argument("--output_data", required=True)
parser.add_argument("--param1", type=int, required=True)
args = parser.parse_args()


def folder_digest(folder: str) -> dict[str, str]:
    """What this step read, so the report shows which models and scores it compared."""
    digests = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as handle:
            digests[name] = hashlib.sha256(handle.read()).hexdigest()
    return digests


with open(os.path.join(args.comp_data2, "scores.json")) as handle:
    scores = json.load(handle)
ranking = sorted(scores, key=scores.get)[: args.param1]

report = {
    "best_model": ranking[0],
    "ranking": ranking,
    "scores": scores,
    "pipeline_arg": args.param1,
    "pipeline_arg_env": os.environ.get("AML_PARAMETER_pipeline_arg"),
    "inputs": {
        "comp_data1": {"path": args.comp_data1, "files": folder_digest(args.comp_data1)},
        "comp_data2": {"path": args.comp_data2, "files": folder_digest(args.comp_data2)},
    },
}
os.makedirs(args.output_data, exist_ok=True)
with open(os.path.join(args.output_data, "report.json"), "w") as handle:
    json.dump(report, handle, indent=1)
print(f"best model: {ranking[0]} (mse {scores[ranking[0]]:.3f}); pipeline_arg={args.param1}")
