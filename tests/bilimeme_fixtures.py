"""Synthetic bullet chats shared by the BiliMemeNet tests, written once per session."""

import functools
import os
import shutil
import tempfile

_ROOT = tempfile.mkdtemp(prefix="memotion-tf-bilimeme-tests-")


@functools.lru_cache(None)
def danmu_dir(size=1500, seed=3):
    """Both forms (danmu.csv and train/val/test.csv) in one folder."""
    from memotion_tf.datasets.danmu import write_synthetic_danmu

    return write_synthetic_danmu(os.path.join(_ROOT, f"danmu_{size}_{seed}"), size=size, seed=seed)


@functools.lru_cache(None)
def processed_dir(size=1500, seed=3):
    """Only the processed split of `danmu_dir(size, seed)`."""
    folder = os.path.join(_ROOT, f"processed_{size}_{seed}")
    os.makedirs(folder)
    for split in ("train", "val", "test"):
        shutil.copy(os.path.join(danmu_dir(size, seed), f"{split}.csv"), folder)
    return folder


@functools.lru_cache(None)
def danmu_data(size=1500, seed=3):
    """`danmu_dir` prepared as the reproduction prepares it (raw form)."""
    from memotion_tf.papers.bilimeme import prepare_danmu

    return prepare_danmu(danmu_dir(size, seed), synthetic=True)
