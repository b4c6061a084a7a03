import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--raw")
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(args.raw) as source, open(os.path.join(args.out, "prepared.txt"), "w") as target:
    target.write(source.read().upper())
