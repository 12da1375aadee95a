"""`make bench`: every section in one run, then the speed targets.

    python -m memotion_tf.benchmarks [--size 400] [--skip memory,distribute] [--strict]

One synthetic Memotion 7k copy of `size` memes and one of 4x `size` serve
the input and memory sections; the RandAugment and training sections make
their own random data. Each section prints its figures and its target lines;
the run ends with all the target lines together. Timings on a shared
machine are noisy, so a missed target is reported (`MISSED`) but fails the
run only with `--strict`.
"""

import argparse
import os
import sys
import tempfile

SECTIONS = ("input", "memory", "randaugment", "distribute")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=400, help="memes in the 1x data set (the input section uses 4x)")
    parser.add_argument("--skip", default="", help=f"comma-separated sections to leave out, of {', '.join(SECTIONS)}")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    unknown = skip - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; expected some of {list(SECTIONS)}")

    from memotion_tf.benchmarks import distribute, input, memory, randaugment
    from memotion_tf.benchmarks.common import synthetic_data, synthetic_memes

    targets = []
    with tempfile.TemporaryDirectory(prefix="memotion-bench-") as tmp:
        large_dir = os.path.join(tmp, "x4")
        if "input" not in skip:
            targets += input.main([], frame=synthetic_memes(large_dir, 4 * args.size))
        if "memory" not in skip:
            small_dir = synthetic_data(os.path.join(tmp, "x1"), args.size)
            targets += memory.main([], small_dir=small_dir, large_dir=synthetic_data(large_dir, 4 * args.size))
    if "randaugment" not in skip:
        targets += randaugment.main()
    if "distribute" not in skip:
        targets += distribute.main([])
    print("Speed targets (measured side by side in this run):")
    for target in targets:
        print("  " + target.line())
    missed = [t for t in targets if not t.met]
    if missed:
        print(f"{len(missed)} of {len(targets)} targets missed.")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
