import argparse
import os
import time

parser = argparse.ArgumentParser()
for name in ("--input", "--out", "--label", "--control"):
    parser.add_argument(name)
parser.add_argument("--repeat", type=int)
args = parser.parse_args()

os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "partial.bin"), "wb") as handle:  # staged: visible to no one until commit
    handle.write(b"x" * 1_000_000)
if args.control:
    with open(os.path.join(args.control, f"pid-{os.getpid()}"), "w") as handle:
        handle.write(str(os.getpid()))
    while not os.path.exists(os.path.join(args.control, "release")):
        with open(os.path.join(args.control, "heartbeat"), "a") as handle:
            handle.write(".")
        time.sleep(0.02)
with open(args.input) as source, open(os.path.join(args.out, "result.txt"), "w") as result:
    result.write(source.read() + args.label * args.repeat)
