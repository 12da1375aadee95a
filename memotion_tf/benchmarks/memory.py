"""`make bench`, memory section: peak RSS of one training epoch at 1x and 4x
the memes, each in a fresh process.

    python -m memotion_tf.benchmarks.memory [--size 400]

The epoch is UoR's CNN-LSTM-TI row on its quick profile (text and images).
The pipeline streams images from disk batch by batch and holds only paths
and strings (`input_pipeline`), so 4x the memes should cost about the same
memory. Target: 4x / 1x <= 1.1.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from memotion_tf.benchmarks.common import Target, synthetic_data


def _epoch_child(data_dir):
    """Run in a subprocess: one CNN-LSTM-TI epoch, then print peak RSS (MiB)."""
    import resource

    import tensorflow as tf

    from memotion_tf import config as config_lib
    from memotion_tf.papers import get_paper
    from memotion_tf.papers.memotion import prepare_data, train_once

    path = next(p for p in get_paper("uor").config_paths() if p.endswith("cnn_lstm_ti.toml"))
    config = config_lib.load_config(path, "quick", ["epochs=1", "val_fraction=0.1"])
    data = prepare_data(config, data_dir, progress=False)
    train_once(config, data, seed=0, strategy=tf.distribute.get_strategy(), verbose=0)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"memes": len(data.frame), "peak_rss_mib": peak_kib / 1024}))


def epoch_memory(data_dir):
    """{"memes", "peak_rss_mib"} of one epoch on `data_dir`, in a fresh process."""
    out = subprocess.run([sys.executable, "-m", "memotion_tf.benchmarks.memory", "--epoch-child", data_dir],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(small, large):
    return "\n".join([
        "Peak RSS of one CNN-LSTM-TI training epoch (fresh process each):",
        f"  1x ({small['memes']:5d} memes)  {small['peak_rss_mib']:8.1f} MiB",
        f"  4x ({large['memes']:5d} memes)  {large['peak_rss_mib']:8.1f} MiB",
    ])


def target(small, large):
    return Target("peak memory of an epoch at 4x the memes / 1x", large["peak_rss_mib"] / small["peak_rss_mib"],
                  1.1, at_most=True)


def main(argv=None, small_dir=None, large_dir=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=400, help="memes in the 1x data set")
    parser.add_argument("--epoch-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epoch_child:
        _epoch_child(args.epoch_child)
        return None
    with tempfile.TemporaryDirectory(prefix="memotion-bench-memory-") as tmp:
        if small_dir is None:
            small_dir = synthetic_data(os.path.join(tmp, "x1"), args.size)
            large_dir = synthetic_data(os.path.join(tmp, "x4"), 4 * args.size)
        small, large = epoch_memory(small_dir), epoch_memory(large_dir)
    print(report(small, large))
    found = target(small, large)
    print("  " + found.line())
    return [found]


if __name__ == "__main__":
    main()
