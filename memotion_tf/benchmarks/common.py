"""Helpers every benchmark section shares: alternating timed rounds, the ratio
lines with their targets, and the synthetic memes they run on."""

import dataclasses
import os
import time


@dataclasses.dataclass
class Throughput:
    """One run's figures from `interleaved_throughput`.

    Args:
        rate: items/s of its best round, timed from the first item asked for.
        setup_s: the fewest seconds `iter()` took before a round (0 for a
            callable): a `tf.data` pipeline optimises and instantiates its
            functions there, once per iterator, as each training epoch makes one.
    """

    rate: float
    setup_s: float = 0.0


def interleaved_throughput(runs, count, repeats=3, warmup=False):
    """A `Throughput` per run: the best items/s over `repeats` rounds,
    alternating between the runs, and the set-up of an iterable's iterator.

    Args:
        runs: iterables (e.g. `tf.data.Dataset`s), each iterated to the end
            once per round with a new iterator, or callables, each called once
            per round. An iterable's round is timed from the moment its
            iterator exists: making it is timed apart (`Throughput.setup_s`),
            a cost per epoch rather than per item, which in a short round
            would otherwise dominate (2.4 s of tf.data graph optimisation for
            RandAugment at N=14, against 0.6 s for 64 images).
        count: items one round of a run processes.
        repeats: timed rounds; each runs every run once, in turn, so that all
            see the same file cache and machine load (another process on the
            same cores slows them alike); the best round of each counts.
        warmup: one untimed round of each first (tracing, file cache, e.g.
            every `Case` branch instantiated).
    """

    def one_round(run):
        if callable(run):
            start = time.perf_counter()
            run()
            return 0.0, time.perf_counter() - start
        begun = time.perf_counter()
        iterator = iter(run)
        start = time.perf_counter()
        for _ in iterator:
            pass
        return start - begun, time.perf_counter() - start

    for run in runs if warmup else ():
        one_round(run)
    found = [Throughput(0.0, float("inf")) for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            setup, seconds = one_round(run)
            found[i].rate = max(found[i].rate, count / max(seconds, 1e-9))
            found[i].setup_s = min(found[i].setup_s, setup)
    return found


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
