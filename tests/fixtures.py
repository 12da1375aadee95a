"""Synthetic data shared by every test module, made once per test session."""

import functools
import tempfile

_ROOT = tempfile.mkdtemp(prefix="memotion-tf-tests-")


@functools.lru_cache(None)
def memotion_dir(size=480, seed=1):
    """A small synthetic Memotion 7k copy in the official layout (read-only)."""
    from memotion_tf.datasets.memotion7k import write_synthetic_memotion7k

    return write_synthetic_memotion7k(f"{_ROOT}/memotion_{size}_{seed}", size=size, seed=seed)


@functools.lru_cache(None)
def memotion_data(size=480, seed=1):
    """That copy read, image-checked and split as a reproduction does."""
    from memotion_tf.config import ExperimentConfig
    from memotion_tf.papers.memotion import prepare_data

    return prepare_data(ExperimentConfig(), memotion_dir(size, seed), synthetic=True, progress=False)
