import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--prepared")
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.prepared, "prepared.txt")) as source, open(os.path.join(args.out, "model.txt"), "w") as out:
    out.write(f"model of {len(source.read())} characters")
