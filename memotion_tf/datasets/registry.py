"""The four datasets by name: `memotion7k`, `mami`, `semeval21_task6`, `danmu`.

Each entry knows how to write a synthetic copy in the official layout and how
to check a folder in that layout (what `memotion-tf data synth|check` print).
The CLI and the papers look datasets up here and never branch on their names.

A synthetic copy carries memotion-tf's marker (`io.MARKER`, purpose
"synthetic ...") at its root, so a run knows from the data itself whether its
numbers come from synthetic memes, whichever path the copy is passed by; and
`data synth` never replaces a folder it did not write (`io.atomic_output_dir`).
"""

import dataclasses
import difflib
import logging
import os
import sys

from memotion_tf.datasets.common import DataError
from memotion_tf.io import create_once, read_marker

log = logging.getLogger("memotion_tf")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset's tools.

    Args:
        name: the CLI name.
        title: what it is, for help texts.
        write: `write(out, size, seed)` writes a synthetic copy in the official layout
            and returns a one-line description of what it wrote.
        check: `check(data_dir, task)` validates a folder and returns a report.
        layout: the official layout, one line.
    """

    name: str
    title: str
    write: object
    check: object
    layout: str


def _write_single_label(dataset):
    def write(out, size, seed):
        from memotion_tf.datasets import mami, memotion7k

        writer = {"memotion7k": memotion7k.write_synthetic_memotion7k, "mami": mami.write_synthetic_mami}[dataset]
        writer(out, size=size, seed=seed)
        return f"{size} synthetic {dataset} memes"
    return write


def _check_images_dataset(dataset):
    def check(data_dir, task, duplicates="keep"):
        from memotion_tf.datasets.check import check_dataset

        return check_dataset(dataset, data_dir, task, duplicates=duplicates, progress=sys.stdout.isatty())
    return check


def _write_semeval21_task6(out, size, seed):
    """N memes split 687:63:200, as the real corpus is."""
    from memotion_tf.datasets import semeval21_task6 as s21

    total = sum(s21.REAL_SIZES)
    train, dev = (round(size * n / total) for n in s21.REAL_SIZES[:2])
    sizes = (train, dev, size - train - dev)
    s21.write_synthetic_semeval21_task6(out, sizes=sizes, seed=seed)
    return f"{size} synthetic semeval21_task6 memes (train/dev/test {sizes})"


def _write_danmu(out, size, seed):
    from memotion_tf.datasets.danmu import write_synthetic_danmu

    write_synthetic_danmu(out, size=size, seed=seed)
    return f"{size} synthetic bullet chats (danmu.csv and train/val/test.csv)"


def _check_danmu(data_dir, task, duplicates="keep"):
    from memotion_tf.papers.bilimeme import check_danmu

    return check_danmu(data_dir)


DATASETS = {
    "memotion7k": Dataset(
        "memotion7k", "Memotion 7k (SemEval-2020 Task 8)", _write_single_label("memotion7k"),
        _check_images_dataset("memotion7k"), "labels.csv and images/<image_name>"),
    "mami": Dataset(
        "mami", "MAMI (SemEval-2022 Task 5)", _write_single_label("mami"), _check_images_dataset("mami"),
        "TRAINING/training.csv (tab-separated) with its images, test/Test.csv, test_labels.txt"),
    "semeval21_task6": Dataset(
        "semeval21_task6", "SemEval-2021 Task 6, subtask 3", _write_semeval21_task6, _check_images_dataset("semeval21_task6"),
        "training_set_task3/, dev_set_task3_labeled/, test_set_task3/: JSON arrays with the images beside them"),
    "danmu": Dataset(
        "danmu", "Bilibili bullet chats (BiliMemeNet)", _write_danmu, _check_danmu,
        "danmu.csv (raw table) or train.csv, val.csv, test.csv (processed 6-class split)"),
}


def get_dataset(name):
    """The registry entry for `name`; an unknown name is an error with a did-you-mean."""
    if name not in DATASETS:
        close = difflib.get_close_matches(name, list(DATASETS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown dataset {name!r}{hint} Known: {', '.join(DATASETS)}")
    return DATASETS[name]


def is_synthetic(data_dir):
    """Whether `data_dir` (a folder, or a file in one) is a synthetic copy written by memotion-tf."""
    folder = data_dir if os.path.isdir(data_dir) else os.path.dirname(os.path.abspath(data_dir))
    marker = read_marker(folder)
    return bool(marker) and str(marker.get("purpose", "")).startswith("synthetic")


def synthesize(name, out, size, seed=0):
    """Write a synthetic copy of dataset `name` to `out`; returns what was
    written (one line). Refuses to replace anything it did not write."""
    what = get_dataset(name).write(out, size, seed)
    return f"wrote {what} to {out}"


def ensure_synthetic(name, size, key=None, seed=0):
    """The embedded synthetic copy of `name` under the user cache, written once
    (processes that start together write it once). `key` names the copy (default: its size)."""
    from memotion_tf import paths

    def write(path):
        log.info("writing the embedded synthetic %s data (%s) to %s", name, size, path)
        synthesize(name, path, size, seed)

    return create_once(paths.synthetic_dir(name, key or f"n{size}-s{seed}"), write)
