"""What every dataset reader shares: located errors, pickle refusal, safe paths,
the duplicate rule, and the up-front image check (bad images are skipped before
training, never mid-epoch).

Every problem with the data is a `DataError` (or a subclass, such as
`io.OutputError` for an output path) whose message is one line naming the
file, and the row and column where there is one. Callers catch that one type.
"""

import concurrent.futures
import csv
import dataclasses
import os
import re
import stat

import numpy as np
import pandas as pd

PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
PICKLE_SUFFIXES = (".pkl", ".pickle", "_pickle")
DUPLICATE_POLICIES = ("error", "skip", "keep")


class DataError(ValueError):
    """A problem in a data file, named by file, row and column, in one line."""

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
        message = " ".join(str(message).split("\n")).strip()  # one line, whatever a library said
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.column = file, row, column


def _one_line(error, limit=200):
    text = " ".join(str(error).split())
    return text[:limit] + ("..." if len(text) > limit else "")


def require_regular_file(path, what="file"):
    """Raise DataError unless `path` is a regular file (or a link to one).
    A FIFO would block a reader forever and a device such as /dev/zero never
    ends, so neither is ever opened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{what} not found", file=path) from None
    except (OSError, ValueError) as e:
        raise DataError(f"{what} cannot be read ({getattr(e, 'strerror', None) or _one_line(e)})",
                        file=path) from None
    if stat.S_ISDIR(mode):
        raise DataError(f"expected a {what}, found a folder", file=path)
    if not stat.S_ISREG(mode):
        raise DataError(f"not a regular {what} (a FIFO, socket or device); refusing to read it", file=path)


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


def read_csv(path, required_columns, sep=",", header="infer", names=None, require_rows=True):
    """Read a delimited file as strings, checking only the columns the task needs.

    Raises DataError for a file that is missing, not a regular file, a
    pickle, empty (0 bytes), not UTF-8, malformed, without a required column,
    or (with `require_rows`) with a header line but no data rows."""
    require_regular_file(path)
    refuse_pickle(path)
    if os.path.getsize(path) == 0:
        raise DataError("empty file (0 bytes): expected a header line and data rows", file=path)
    try:
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, header=header, names=names,
            encoding="utf-8-sig",  # tolerate a byte-order mark before the first column
        )
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=path) from None
    except pd.errors.EmptyDataError:
        raise DataError("no header line: the file holds only blank lines", file=path) from None
    except (pd.errors.ParserError, csv.Error, ValueError, OverflowError) as e:
        raise DataError(f"malformed CSV: {_one_line(e)}", file=path) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required_columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing required column(s) {missing}; found {list(frame.columns)}", file=path
        )
    if require_rows and len(frame) == 0:
        raise DataError("no data rows: the file holds only its header line", file=path)
    return frame


def read_json_array(path, expected="a JSON array"):
    """Read a UTF-8 JSON file whose top level must be an array."""
    import json

    path = os.fspath(path)
    require_regular_file(path)
    refuse_pickle(path)
    if os.path.getsize(path) == 0:
        raise DataError(f"empty file (0 bytes): expected {expected}", file=path)
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=path) from None
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}", file=path) from None
    except RecursionError:
        raise DataError("not usable JSON: nested too deeply", file=path) from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise DataError(f"not usable JSON: {_one_line(e)}", file=path) from None
    if not isinstance(entries, list):
        raise DataError(f"expected {expected}, found a JSON {type(entries).__name__}", file=path)
    return entries


def resolve_inside(folder, name, file, row, column):
    """Join `folder` and `name`, refusing names that escape `folder`."""
    if not name:
        raise DataError("empty file name", file=file, row=row, column=column)
    if "\x00" in name:
        raise DataError(f"file name {name!r} holds a NUL character", file=file, row=row, column=column)
    if os.path.isabs(name) or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"absolute path {name!r} is not allowed", file=file, row=row, column=column)
    try:
        os.fsencode(name)
        root = os.path.realpath(folder)
        path = os.path.realpath(os.path.join(root, name))
    except (ValueError, UnicodeError, OSError) as e:
        raise DataError(f"file name {name!r} is not usable ({_one_line(e, 80)})",
                        file=file, row=row, column=column) from None
    if os.path.commonpath([root, path]) != root:
        raise DataError(
            f"file name {name!r} escapes {folder}", file=file, row=row, column=column
        )
    return path


# --------------------------------------------------------------------------
# Duplicates: the same image listed twice.
# --------------------------------------------------------------------------


@dataclasses.dataclass
class DuplicateReport:
    """Images listed more than once in a split, and what the rule did.

    The rule (`policy`): two rows naming the same image with different labels
    contradict each other, and no row can be preferred, so
    - "error" (the default) raises DataError naming the image and its rows;
    - "skip" drops every row of such an image, counted here;
    - "keep" keeps them all and only reports them (`data check`).
    Rows naming the same image with the same labels are kept and reported as
    `repeats`.
    """

    policy: str = "error"
    conflicts: list = dataclasses.field(default_factory=list)  # [(image, [rows])]
    repeats: list = dataclasses.field(default_factory=list)  # [(image, [rows])]
    skipped_rows: int = 0

    def summary(self):
        if not self.conflicts and not self.repeats:
            return "no image is listed twice"
        parts = []
        if self.conflicts:
            shown = "; ".join(f"{name!r} rows {', '.join(map(str, rows))}" for name, rows in self.conflicts[:5])
            more = f" and {len(self.conflicts) - 5} more" if len(self.conflicts) > 5 else ""
            action = {"skip": f"skipped ({self.skipped_rows} rows)", "keep": "kept (duplicates='keep')"}.get(
                self.policy, "an error")
            parts.append(f"{len(self.conflicts)} image(s) listed with conflicting labels, {action}: {shown}{more}")
        if self.repeats:
            parts.append(f"{len(self.repeats)} image(s) listed more than once with the same labels (kept)")
        return "; ".join(parts)


def check_duplicate_policy(policy):
    if policy not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, not {policy!r}")


def apply_duplicate_rule(frame, key_column, label_columns, policy, file, key_name="image", file_column=None):
    """Find rows of `frame` sharing `key_column` and apply the rule of
    `DuplicateReport` to those whose `label_columns` differ.

    Returns (frame, DuplicateReport); the frame keeps its row order and
    columns, without the skipped rows. Labels are compared as values (lists
    as sorted tuples, so the order of a meme's techniques does not matter).
    `file_column` names the key's column in the file, for the error."""
    check_duplicate_policy(policy)
    report = DuplicateReport(policy=policy)
    if len(frame) == 0:
        return frame, report

    def labels_of(i):
        values = []
        for column in label_columns:
            value = frame[column].iat[i]
            values.append(tuple(sorted(value)) if isinstance(value, (list, tuple)) else value)
        return tuple(values)

    groups = {}
    for i, key in enumerate(frame[key_column]):
        groups.setdefault(key, []).append(i)
    drop = []
    for key, positions in groups.items():
        if len(positions) < 2:
            continue
        rows = [int(frame["row"].iat[i]) for i in positions]
        if len({labels_of(i) for i in positions}) > 1:
            report.conflicts.append((key, rows))
            drop.extend(positions)
        else:
            report.repeats.append((key, rows))
    if report.conflicts and policy == "error":
        key, rows = report.conflicts[0]
        more = f" (and {len(report.conflicts) - 1} more such {key_name}s)" if len(report.conflicts) > 1 else ""
        raise DataError(
            f"{key_name} {key!r} is listed in rows {', '.join(map(str, rows))} with different labels{more}; "
            "fix the file, or read it with duplicates='skip' to drop such rows",
            file=file, column=file_column or key_column)
    if policy == "skip" and drop:
        keep = np.ones(len(frame), dtype=bool)
        keep[drop] = False
        frame = frame[keep].reset_index(drop=True)
        report.skipped_rows = len(drop)
    return frame, report


# --------------------------------------------------------------------------
# Images: the check before training.
# --------------------------------------------------------------------------


@dataclasses.dataclass
class SkipReport:
    """Images dropped before training, with the reason for each.

    With `required=False` (a model that does not read images) no meme is
    dropped: `skipped` lists the memes kept without a usable image."""

    total: int
    skipped: list  # [(row, path, reason)]
    required: bool = True

    @property
    def kept(self):
        return self.total if not self.required else self.total - len(self.skipped)

    def summary(self):
        readable = self.total - len(self.skipped)
        if self.required:
            head = f"{self.kept} of {self.total} memes have a readable image; {len(self.skipped)} skipped"
            verb = "skipped"
        else:
            head = (f"{readable} of {self.total} memes have a readable image; {len(self.skipped)} kept without "
                    "one (the model does not read images)")
            verb = "no image for"
        lines = [head]
        for row, path, reason in self.skipped[:20]:
            lines.append(f"  {verb} row {row}: {path}: {reason}")
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)


def read_image_file(path, max_bytes=None):
    """(bytes, "") of a regular file of at most `max_bytes` bytes, else
    (b"", why not). The file is opened without blocking and checked after
    opening, so a FIFO or a device (/dev/zero) is refused at once, never read."""
    from memotion_tf.preprocessing.image import MAX_IMAGE_BYTES

    max_bytes = MAX_IMAGE_BYTES if max_bytes is None else max_bytes
    if not path:
        return b"", "no file name"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return b"", "missing"
    except IsADirectoryError:
        return b"", "not a regular file (a folder)"
    except (OSError, ValueError) as e:
        return b"", f"cannot be opened ({getattr(e, 'strerror', None) or _one_line(e, 80)})"
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return b"", "not a regular file (a folder)"
        if not stat.S_ISREG(info.st_mode):
            return b"", "not a regular file (a FIFO, socket or device)"
        if info.st_size > max_bytes:
            return b"", f"too large: a file of {info.st_size:,} bytes, over the limit of {max_bytes:,}"
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:  # grew since fstat
            return b"", f"too large: a file of more than {max_bytes:,} bytes"
        return data, ""
    except OSError as e:
        return b"", f"cannot be read ({e.strerror})"
    finally:
        os.close(fd)


def _tf_message(error):
    message = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\].*", "", str(error)).strip().splitlines()
    return (message[0] if message else type(error).__name__)[:120]


def image_problem(path, max_pixels=None, max_bytes=None):
    """Why the image at `path` cannot be used, or None: read safely
    (`read_image_file`), sized from its header within the limits
    (`preprocessing.image.size_problem`), then decoded once with the decoder
    training uses. Each reason is one line; a size problem names the size."""
    import tensorflow as tf

    from memotion_tf.preprocessing.image import MAX_IMAGE_PIXELS, size_problem

    data, problem = read_image_file(path, max_bytes)
    if problem:
        return problem
    problem = size_problem(data, MAX_IMAGE_PIXELS if max_pixels is None else max_pixels, None)
    if problem:
        return problem if problem.startswith(("too large", "empty")) else "unreadable: " + problem
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        if image.shape[0] == 0 or image.shape[1] == 0:
            return "empty image"
    except (tf.errors.InvalidArgumentError, tf.errors.OpError) as e:
        return "unreadable: " + _tf_message(e)
    return None


def check_images(frame, path_column="image_path", row_column="row", workers=8, progress=True,
                 required=True, max_pixels=None, max_bytes=None):
    """Check every image once, as training will read it, before training.

    Each image must be a regular file of at most `max_bytes` bytes (default
    `preprocessing.image.MAX_IMAGE_BYTES`), whose header gives at most
    `max_pixels` pixels (default `MAX_IMAGE_PIXELS`), and which decodes.

    With `required=True` the rows whose image fails are split off: returns
    (kept rows, SkipReport). With `required=False` (a model that reads no
    image) every row is kept and the frame gets a boolean `image_ok` column;
    the report counts the memes kept without a usable image.

    Example:
    >>> kept, report = check_images(data.frame)
    >>> print(report.summary())   # "476 of 480 memes have a readable image; 4 skipped" ...
    """
    import keras

    paths = list(frame[path_column])
    bar = keras.utils.Progbar(len(paths), unit_name="image") if progress and paths else None

    def problem(path):
        return image_problem(path, max_pixels, max_bytes)

    problems = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for i, found in enumerate(pool.map(problem, paths)):
            problems.append(found)
            if bar and ((i + 1) % 64 == 0 or i + 1 == len(paths)):
                bar.update(i + 1)
    ok = np.asarray([p is None for p in problems], dtype=bool)
    skipped = [
        (row, path, found)
        for row, path, found in zip(frame[row_column], paths, problems)
        if found is not None
    ]
    report = SkipReport(total=len(paths), skipped=skipped, required=required)
    if not required:
        kept = frame.copy()
        kept["image_ok"] = ok
        return kept.reset_index(drop=True), report
    # `iloc` with a boolean array keeps the columns, also of an empty frame.
    return frame.iloc[np.flatnonzero(ok)].reset_index(drop=True), report
