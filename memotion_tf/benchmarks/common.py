"""Helpers every benchmark section shares: alternating timed rounds, the ratio
lines with their targets, and the synthetic memes they run on."""

import dataclasses
import os
import time


def _consume(run):
    if callable(run):
        run()
    else:
        for _ in run:
            pass


def interleaved_throughput(runs, count, repeats=3, warmup=False):
    """Best items/s of each run over `repeats` rounds, alternating between them.

    Args:
        runs: iterables (e.g. `tf.data.Dataset`s), each iterated to the end
            once per round, or callables, each called once per round.
        count: items one round of a run processes.
        repeats: timed rounds; each runs every run once, in turn, so that all
            see the same file cache and machine load (another process on the
            same cores slows them alike); the best round of each counts.
        warmup: one untimed round of each first (tracing, file cache, e.g.
            every `Case` branch instantiated).
    """
    for run in runs if warmup else ():
        _consume(run)
    best = [0.0] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            _consume(run)
            best[i] = max(best[i], count / (time.perf_counter() - start))
    return best


@dataclasses.dataclass
class Target:
    """A measured ratio and the bound it must meet (the speed targets of `make bench`).

    Args:
        name: what over what, e.g. "input pipeline from files / OpenCV (2 threads)".
        ratio: the measured ratio.
        bound: the target.
        at_most: the ratio must be <= `bound` (memory) rather than >= it.
    """

    name: str
    ratio: float
    bound: float
    at_most: bool = False

    @property
    def met(self):
        return self.ratio <= self.bound if self.at_most else self.ratio >= self.bound

    def line(self):
        sign = "<=" if self.at_most else ">="
        return (f"{self.name}: {self.ratio:.2f}x (target {sign} {self.bound:g}x)"
                + ("" if self.met else "  MISSED"))


def synthetic_data(out_dir, size, seed=0):
    """A synthetic Memotion 7k copy of `size` memes in `out_dir` (written once)."""
    from memotion_tf.datasets.memotion7k import write_synthetic_memotion7k

    if not os.path.isdir(out_dir):
        write_synthetic_memotion7k(out_dir, size=size, seed=seed)
    return out_dir


def synthetic_memes(out_dir, size, seed=0):
    """The checked frame (`text`, `image_path`, `label`; missing and corrupt
    images skipped, as before training) of `synthetic_data(out_dir, size)`."""
    from memotion_tf.datasets.common import check_images
    from memotion_tf.datasets.memotion7k import read_memotion7k

    frame, _ = check_images(read_memotion7k(synthetic_data(out_dir, size, seed)).frame, progress=False)
    return frame
