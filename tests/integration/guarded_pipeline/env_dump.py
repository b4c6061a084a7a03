import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "env.json"), "w") as handle:
    json.dump(dict(os.environ), handle)
