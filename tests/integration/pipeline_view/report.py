import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--scores")
args = parser.parse_args()
with open(os.path.join(args.scores, "scores.json")) as handle:
    print("report:", json.load(handle))
