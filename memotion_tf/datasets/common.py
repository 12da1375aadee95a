"""What every dataset reader shares: located errors, pickle refusal, safe paths,
and the up-front image check (bad images are skipped before training, never
mid-epoch)."""

import concurrent.futures
import dataclasses
import os
import re

import numpy as np
import pandas as pd

PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
PICKLE_SUFFIXES = (".pkl", ".pickle", "_pickle")


class DataError(ValueError):
    """A problem in a data file, named by file, row and column."""

    def __init__(self, message, file=None, row=None, column=None):
        where = ", ".join(
            part
            for part in (
                str(file) if file is not None else None,
                f"row {row}" if row is not None else None,
                f"column {column!r}" if column is not None else None,
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.column = file, row, column


def refuse_pickle(path):
    """Raise if `path` is, or looks like, a pickle. Downloaded pickles can run
    arbitrary code when loaded; the CSVs hold the same data."""
    name = os.path.basename(path)
    if name.endswith(PICKLE_SUFFIXES):
        raise DataError("refusing to unpickle a downloaded file; read the CSV instead", file=path)
    if os.path.isfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head in PICKLE_MAGIC:
            raise DataError(
                "this file is a pickle, not text; refusing to unpickle a downloaded file", file=path
            )


def read_csv(path, required_columns, sep=",", header="infer", names=None):
    """Read a delimited file as strings, checking only the columns the task needs."""
    refuse_pickle(path)
    if not os.path.isfile(path):
        raise DataError("file not found", file=path)
    try:
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, header=header, names=names,
            encoding="utf-8-sig",  # tolerate a byte-order mark before the first column
        )
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=path) from None
    except pd.errors.ParserError as e:
        raise DataError(f"malformed CSV: {e}", file=path) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required_columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing required column(s) {missing}; found {list(frame.columns)}", file=path
        )
    return frame


def read_json_array(path, expected="a JSON array"):
    """Read a UTF-8 JSON file whose top level must be an array."""
    import json

    path = os.fspath(path)
    refuse_pickle(path)
    if not os.path.isfile(path):
        raise DataError("file not found", file=path)
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=path) from None
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}", file=path) from None
    if not isinstance(entries, list):
        raise DataError(f"expected {expected}, found a JSON {type(entries).__name__}", file=path)
    return entries


def resolve_inside(folder, name, file, row, column):
    """Join `folder` and `name`, refusing names that escape `folder`."""
    if not name:
        raise DataError("empty file name", file=file, row=row, column=column)
    if os.path.isabs(name) or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"absolute path {name!r} is not allowed", file=file, row=row, column=column)
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root:
        raise DataError(
            f"file name {name!r} escapes {folder}", file=file, row=row, column=column
        )
    return path


@dataclasses.dataclass
class SkipReport:
    """Images dropped before training, with the reason for each."""

    total: int
    skipped: list  # [(row, path, reason)]

    @property
    def kept(self):
        return self.total - len(self.skipped)

    def summary(self):
        lines = [f"{self.kept} of {self.total} memes have a readable image; {len(self.skipped)} skipped"]
        for row, path, reason in self.skipped[:20]:
            lines.append(f"  skipped row {row}: {path}: {reason}")
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)


def _image_problem(path):
    import tensorflow as tf

    if not os.path.isfile(path):
        return "missing"
    try:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        if image.shape[0] == 0 or image.shape[1] == 0:
            return "empty image"
    except (tf.errors.InvalidArgumentError, tf.errors.OpError) as e:
        message = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\].*", "", str(e)).strip().splitlines()[0]
        return "unreadable: " + message[:120]
    return None


def check_images(frame, path_column="image_path", row_column="row", workers=8, progress=True):
    """Decode every image once, with the decoder training uses, and split off
    the rows whose image is missing or unreadable. Returns (kept, SkipReport)."""
    import keras

    paths = list(frame[path_column])
    bar = keras.utils.Progbar(len(paths), unit_name="image") if progress and paths else None
    problems = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for i, problem in enumerate(pool.map(_image_problem, paths)):
            problems.append(problem)
            if bar and ((i + 1) % 64 == 0 or i + 1 == len(paths)):
                bar.update(i + 1)
    bad = [p is not None for p in problems]
    skipped = [
        (row, path, problem)
        for row, path, problem in zip(frame[row_column], paths, problems)
        if problem is not None
    ]
    # A boolean array, not a list: on an empty frame `frame[[]]` would select no columns.
    kept = frame[np.asarray([not b for b in bad], dtype=bool)].reset_index(drop=True)
    return kept, SkipReport(total=len(paths), skipped=skipped)
