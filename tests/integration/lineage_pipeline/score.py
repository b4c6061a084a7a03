import argparse
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--prepared")
parser.add_argument("--model")
parser.add_argument("--out")
parser.add_argument("--fail", type=int)
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.model, "model.txt")) as model, open(os.path.join(args.out, "scores.txt"), "w") as out:
    out.write(model.read() + ": 0.9")
if args.fail:
    sys.exit("score.py: failing as asked, after writing its output")
