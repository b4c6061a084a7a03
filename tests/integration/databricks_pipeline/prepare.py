import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "numbers.txt"), "w") as handle:
    handle.write("\n".join(str(n) for n in range(1, 11)) + "\n")
