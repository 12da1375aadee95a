"""MAMI (SemEval-2022 Task 5): read the official layout, write it synthetically,
and split it as the semi-supervised CROM-AE / RAW-N-COOK paper does.

Official layout (download by request form):

    TRAINING/training.csv   tab-separated: file_name, misogynous, shaming, stereotype,
                            objectification, violence, Text Transcription (10,000 rows)
    TRAINING/<file_name>    jpg images
    test/Test.csv           tab-separated: file_name, Text Transcription (1,000 rows)
    test/<file_name>        jpg images
    test_labels.txt         gold test labels, tab-separated, no header:
                            file_name, misogynous, shaming, stereotype, objectification, violence

DATASETS.md leaves open whether `test_labels.txt` sits in `test/` or beside it,
so the reader accepts `test/test_labels.txt` first and `<root>/test_labels.txt`
second; the synthetic writer puts it in `test/`.

Tasks: A = binary `misogynous` (column `label`); B = the four binary labels
shaming, stereotype, objectification, violence (one column each). Only the
columns the chosen task needs are required. Every label must be the string
"0" or "1"; anything else is a `DataError` naming file, row and column.

Paper protocol (`split_mami`, `labelled_subset`): TRAINING is split 8,000 train /
2,000 validation (80/20, scaled for smaller copies), the official test set is
the test set, and a fraction 0.3 / 0.1 / 0.05 of train keeps its labels while
the rest is used unlabelled.
"""

import dataclasses
import os
import re
import string

import cv2
import numpy as np
import pandas as pd

from memotion_tf.datasets.common import (
    DataError, DuplicateReport, apply_duplicate_rule, check_duplicate_policy, read_csv, refuse_pickle,
    require_regular_file, resolve_inside,
)
from memotion_tf.io import atomic_output_dir

TRAINING_DIR = "TRAINING"
TRAINING_FILE = "training.csv"
TEST_DIR = "test"
TEST_FILE = "Test.csv"
TEST_LABELS_FILE = "test_labels.txt"
TEXT_COLUMN = "Text Transcription"

TASK_B_LABELS = ("shaming", "stereotype", "objectification", "violence")
LABEL_COLUMNS = ("misogynous",) + TASK_B_LABELS
# Column order of test_labels.txt, which has no header.
TEST_LABELS_COLUMNS = ("file_name",) + LABEL_COLUMNS
# Task -> label columns it needs.
TASK_COLUMNS = {"A": ("misogynous",), "B": TASK_B_LABELS}
CLASS_NAMES = {"A": ("not_misogynous", "misogynous"), "B": TASK_B_LABELS}
SPLITS = ("train", "test")
BINARY_VALUES = {"0": 0, "1": 1}

# Paper protocol: 10,000 TRAINING memes -> 8,000 train / 2,000 validation.
VAL_FRACTION = 0.2
PAPER_LABELLED_RATIOS = (0.3, 0.1, 0.05)


@dataclasses.dataclass
class MAMIData:
    """Rows of one MAMI split that passed validation.

    `frame` has columns `row` (1-based data row of `texts_file`), `image_name`,
    `image_path`, `text` (cleaned by `clean_mami_text`), `raw_text` and, for
    task A, `label` (0 = not misogynous, 1 = misogynous); for task B one 0/1
    column per name in `TASK_B_LABELS`. `duplicates` says which images were
    listed twice and what the duplicate rule did.
    """

    frame: pd.DataFrame
    task: str
    split: str
    class_names: tuple
    labels_file: str  # where the labels were read (training.csv or test_labels.txt)
    texts_file: str  # where file names and texts were read (training.csv or Test.csv)
    duplicates: DuplicateReport = dataclasses.field(default_factory=DuplicateReport)


def label_columns(task):
    _check_task(task)
    return ["label"] if task == "A" else list(TASK_B_LABELS)


def _check_task(task):
    if task not in TASK_COLUMNS:
        raise ValueError(f"unknown MAMI task {task!r}; expected one of {sorted(TASK_COLUMNS)}")


# --------------------------------------------------------------------------
# Text cleaning, as the paper lists it (section "Data Preprocessing").
# --------------------------------------------------------------------------

# URLs with a scheme or "www.", and bare domains such as the watermarks
# "imgflip.com" or "BestDemotivationalPosters.com" that OCR picks up. Only
# top-level domains that do not double as English words ("me", "us", "in")
# count for bare domains, so "trust.me" survives as two words.
_URL = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)\S+"
    r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|edu|gov|io|ly|info|biz|tv)\b(?:/\S*)?",
    re.IGNORECASE,
)
_APOSTROPHES = str.maketrans("", "", "'`")
_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation if c not in "'`"})


def clean_mami_text(text):
    """Clean a meme transcription in the paper's order: remove URLs, remove
    non-ASCII characters, lower-case, remove punctuation.

    Choices where the paper is terse: apostrophes are deleted ("don't" ->
    "dont") while other punctuation becomes a space ("end.next" -> "end next"),
    so words are never glued together; runs of whitespace collapse to one
    space. Non-ASCII removal runs before punctuation removal, so a typographic
    apostrophe disappears with the other non-ASCII characters ("don’t" -> "dont").

    >>> clean_mami_text("Check https://t.co/x HER Café!! imgflip.com")
    'check her caf'
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = _URL.sub(" ", str(text))
    text = text.encode("ascii", "ignore").decode("ascii")
    text = text.lower()
    text = text.translate(_APOSTROPHES).translate(_PUNCTUATION)
    return " ".join(text.split())


# --------------------------------------------------------------------------
# Reader.
# --------------------------------------------------------------------------


def _require_tab_separated(path, fields=None, row=None):
    """MAMI files are tab-separated; a comma-separated copy would otherwise
    surface as a confusing "missing column" error. `fields`, if given, is the
    exact number of fields the first line must have (for headerless files)."""
    require_regular_file(path)
    refuse_pickle(path)
    with open(path, "rb") as f:
        first = f.readline(1 << 16).decode("utf-8", errors="replace").rstrip("\r\n")
    if not first.strip():
        empty = os.path.getsize(path) == 0
        raise DataError("empty file (0 bytes)" if empty else "the first line is empty", file=path, row=row)
    if "\t" not in first:
        hint = " (it looks comma-separated)" if "," in first else ""
        raise DataError(
            f"not tab-separated{hint}: MAMI files separate columns with tabs", file=path, row=row
        )
    if fields is not None and len(first.split("\t")) != fields:
        raise DataError(
            f"expected {fields} tab-separated fields, found {len(first.split(chr(9)))}",
            file=path, row=row,
        )


def _binary(value, file, row, column):
    value = value.strip() if isinstance(value, str) else value
    if value not in BINARY_VALUES:
        raise DataError(f"label {value!r} is not '0' or '1'", file=file, row=row, column=column)
    return BINARY_VALUES[value]


def _text(value):
    return value if isinstance(value, str) else ""


def find_test_labels(data_dir):
    """`test/test_labels.txt`, else `<data_dir>/test_labels.txt`."""
    for candidate in (
        os.path.join(data_dir, TEST_DIR, TEST_LABELS_FILE),
        os.path.join(data_dir, TEST_LABELS_FILE),
    ):
        if os.path.exists(candidate):
            return candidate
    raise DataError(
        f"gold labels not found: expected {TEST_DIR}/{TEST_LABELS_FILE} or {TEST_LABELS_FILE}",
        file=data_dir,
    )


def _read_test_labels(path, task):
    """file_name -> (row, [label ints]) from the headerless test_labels.txt."""
    _require_tab_separated(path, fields=len(TEST_LABELS_COLUMNS), row=1)
    raw = read_csv(
        path, ["file_name", *TASK_COLUMNS[task]], sep="\t", header=None,
        names=list(TEST_LABELS_COLUMNS),
    )
    first_row = 1
    # Tolerate a copy that carries the header line after all.
    if len(raw) and str(raw.iloc[0]["file_name"]).strip() == "file_name":
        raw, first_row = raw.iloc[1:], 2
    labels = {}
    for i, record in enumerate(
        raw[["file_name", *TASK_COLUMNS[task]]].itertuples(index=False, name=None), start=first_row
    ):
        name, *values = record
        name = _text(name).strip()
        if name in labels:
            raise DataError(
                f"duplicate file name {name!r} (first at row {labels[name][0]})",
                file=path, row=i, column="file_name",
            )
        labels[name] = (
            i,
            [_binary(v, path, i, c) for c, v in zip(TASK_COLUMNS[task], values)],
        )
    return labels


def read_mami(data_dir, task="A", text_field=TEXT_COLUMN, split="train", duplicates="error"):
    """Read one split of the official MAMI layout and resolve image paths.

    Args:
        data_dir: the dataset folder, holding `TRAINING/` and `test/`.
        task: "A" (binary misogyny, column `label`) or "B" (four binary columns).
        text_field: the transcription column (`Text Transcription`).
        split: "train" (all of TRAINING; see `split_mami` for train/val) or
            "test" (Test.csv joined with the gold test_labels.txt).
        duplicates: what to do with two rows naming the same image with
            different labels (see `common.DuplicateReport`): "error"
            (default), "skip" (drop them, counted) or "keep".

    Images are not opened here: `datasets.common.check_images` does that once,
    before training. Raises DataError, naming file, row and column, for a
    missing folder or file, a pickle, a file that is empty, not tab-separated,
    not UTF-8 or has no data rows, a missing column, a label that is not 0 or
    1, an image name escaping its folder, a test image without a gold label,
    and (by default) conflicting duplicates.
    """
    _check_task(task)
    check_duplicate_policy(duplicates)
    data_dir = os.fspath(data_dir)
    if split not in SPLITS:
        raise ValueError(f"unknown MAMI split {split!r}; expected one of {list(SPLITS)}")
    if os.path.isfile(data_dir):
        refuse_pickle(data_dir)
        raise DataError("expected the dataset folder (with TRAINING/ and test/)", file=data_dir)
    if not os.path.isdir(data_dir):
        raise DataError("dataset folder not found (expected TRAINING/ and test/ in it)", file=data_dir)

    if split == "train":
        images_dir = os.path.join(data_dir, TRAINING_DIR)
        texts_file = labels_file = os.path.join(images_dir, TRAINING_FILE)
        needed = ["file_name", text_field, *TASK_COLUMNS[task]]
    else:
        images_dir = os.path.join(data_dir, TEST_DIR)
        texts_file = os.path.join(images_dir, TEST_FILE)
        labels_file = find_test_labels(data_dir)
        needed = ["file_name", text_field]
    _require_tab_separated(texts_file)
    raw = read_csv(texts_file, needed, sep="\t")
    gold = _read_test_labels(labels_file, task) if split == "test" else None

    out = {"row": [], "image_name": [], "image_path": [], "text": [], "raw_text": []}
    labels = {c: [] for c in TASK_COLUMNS[task]}
    for i, record in enumerate(raw[needed].itertuples(index=False, name=None), start=1):
        name, text, *values = record
        name = _text(name).strip()
        text = _text(text)
        out["row"].append(i)
        out["image_name"].append(name)
        out["image_path"].append(resolve_inside(images_dir, name, texts_file, i, "file_name"))
        out["raw_text"].append(text)
        out["text"].append(clean_mami_text(text))
        if gold is None:
            values = [_binary(v, labels_file, i, c) for c, v in zip(TASK_COLUMNS[task], values)]
        else:
            if name not in gold:
                raise DataError(
                    f"no gold label for {name!r} in {labels_file}",
                    file=texts_file, row=i, column="file_name",
                )
            values = gold[name][1]
        for column, value in zip(TASK_COLUMNS[task], values):
            labels[column].append(value)
    if task == "A":
        labels = {"label": labels["misogynous"]}
    frame = pd.DataFrame({**out, **labels})
    for column in label_columns(task):
        frame[column] = frame[column].astype("int64")
    frame, report = apply_duplicate_rule(frame, "image_name", label_columns(task), duplicates, texts_file,
                                         file_column="file_name")
    return MAMIData(
        frame=frame, task=task, split=split, class_names=CLASS_NAMES[task],
        labels_file=labels_file, texts_file=texts_file, duplicates=report,
    )


# --------------------------------------------------------------------------
# The paper's protocol: 80/20 train/val from TRAINING; labelled fraction of train.
# --------------------------------------------------------------------------


def _strata(labels):
    """One integer stratum per row: the label for 1-D labels, the label
    pattern (e.g. 0101) for a 2-D multi-label array."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        _, inverse = np.unique(labels, return_inverse=True)
    elif labels.ndim == 2:
        _, inverse = np.unique(labels, axis=0, return_inverse=True)
    else:
        raise ValueError(f"labels must be 1-D or 2-D, got shape {labels.shape}")
    return np.asarray(inverse).reshape(-1)


def _stratified_choice(strata, k, rng):
    """Positions of exactly `k` of the rows, each stratum contributing its
    share (largest-remainder rounding, ties broken at random). Works for
    strata of any size, including singletons."""
    sizes = np.bincount(strata)
    quota = k * sizes / len(strata)
    take = np.floor(quota).astype(int)
    short = k - int(take.sum())
    if short:
        order = np.lexsort((rng.random(len(sizes)), -(quota - take)))
        take[order[:short]] += 1
    chosen = [
        rng.choice(np.flatnonzero(strata == s), size=t, replace=False)
        for s, t in enumerate(take)
        if t
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)


def _frame_strata(frame):
    if "label" in frame.columns:
        return _strata(frame["label"].to_numpy())
    if all(c in frame.columns for c in TASK_B_LABELS):
        return _strata(frame[list(TASK_B_LABELS)].to_numpy())
    return np.zeros(len(frame), dtype=int)


def _count(fraction, n):
    """Round half up, so 0.2 * 10,000 is 2,000 and 0.05 * 8,000 is 400."""
    return int(np.floor(fraction * n + 0.5))


def split_mami(frame, seed, val_fraction=VAL_FRACTION):
    """Split the TRAINING frame into train and validation, 80/20 as in the paper
    (10,000 -> 8,000 / 2,000). The official test set (`read_mami(...,
    split="test")`) is the test set.

    The split is seeded and stratified on the task's labels (`label` for task A,
    the label pattern for task B); the paper does not say how it drew the split.

    Returns:
        (train_index, val_index): sorted positional indices into `frame`.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = len(frame)
    n_val = _count(val_fraction, n)
    if n_val == 0 or n_val == n:
        raise ValueError(f"{n} rows are too few for a {val_fraction:.0%} validation split")
    rng = np.random.default_rng(seed)
    val = _stratified_choice(_frame_strata(frame), n_val, rng)
    train = np.setdiff1d(np.arange(n), val)
    return train, val


def labelled_subset(train_index, labels, ratio, seed):
    """Keep the labels of a seeded, stratified fraction `ratio` of the training
    rows; the rest are used unlabelled (paper: ratio 0.3, 0.1 or 0.05 of 8,000).

    Args:
        train_index: indices of the training rows (e.g. from `split_mami`).
        labels: their labels, aligned with `train_index`: 1-D (task A) or
            2-D multi-label (task B, stratified on the label pattern).
        ratio: labelled fraction in (0, 1); exactly round(ratio * n) rows.
        seed: the same seed gives the same subset.

    Returns:
        (labelled, unlabelled): sorted values of `train_index`.
    """
    train_index = np.asarray(train_index)
    labels = np.asarray(labels)
    if len(labels) != len(train_index):
        raise ValueError(
            f"labels ({len(labels)}) must be aligned with train_index ({len(train_index)})"
        )
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    k = _count(ratio, len(train_index))
    if k == 0:
        raise ValueError(f"a ratio of {ratio} of {len(train_index)} rows labels none of them")
    rng = np.random.default_rng(seed)
    chosen = _stratified_choice(_strata(labels), k, rng)
    mask = np.zeros(len(train_index), dtype=bool)
    mask[chosen] = True
    return np.sort(train_index[mask]), np.sort(train_index[~mask])


# --------------------------------------------------------------------------
# Synthetic copy in the same layout.
# --------------------------------------------------------------------------

# Share of misogynous memes (TRAINING and test are balanced in the real data)
# and, among misogynous memes, the share carrying each task-B label: roughly
# the training-set counts of the task overview (Fersini et al., 2022):
# shaming ~1,274, stereotype ~2,810, objectification ~2,202, violence ~953 of
# 5,000 misogynous memes. Non-misogynous memes never carry a task-B label.
MISOGYNOUS_SHARE = 0.5
TASK_B_SHARES = {"shaming": 0.25, "stereotype": 0.56, "objectification": 0.44, "violence": 0.19}

# Words whose presence carries a label. Deliberately mild: the synthetic data
# only has to be learnable, not realistic in its content.
MISOGYNY_WORDS = ("woman", "women", "girl", "wife", "girlfriend", "she")
TASK_B_WORDS = {
    "shaming": ("ugly", "shame", "embarrassing", "gross"),
    "stereotype": ("kitchen", "sandwich", "cooking", "driving"),
    "objectification": ("body", "hot", "rate", "curves"),
    "violence": ("slap", "punch", "hit", "fight"),
}
NEUTRAL_WORDS = ("cat", "dog", "monday", "exam", "pizza", "coffee", "boss", "game", "bro", "weekend")
FILLER = (
    "when you the a my me and of to is that it this so be at on your for with why how what "
    "everyone nobody mom dad friends internet phone movie school work guys finally again still "
    "just really about after before every time day night year people"
).split()
# OCR noise the cleaning removes: watermarks/URLs, non-ASCII, punctuation.
WATERMARKS = (
    "imgflip.com", "BestDemotivationalPosters.com", "memegenerator.net",
    "https://t.co/x1y2z3", "www.quickmeme.com",
)
NON_ASCII = ("ΟΤΗ", "café", "…", "don’t", "naïve")
PUNCTUATION = ("!", "?", "...", ",", "!!", "'s")
# Image cues (BGR): background colour for misogyny; a marker in one corner per task-B label.
MISOGYNY_COLOURS = ((170, 160, 60), (60, 60, 200))  # not misogynous, misogynous
MARKER_CORNERS = {"shaming": (0, 0), "stereotype": (1, 0), "objectification": (0, 1), "violence": (1, 1)}


def _draw_labels(rng, size):
    """Exactly round(size * MISOGYNOUS_SHARE) misogynous memes; task-B labels
    only on those."""
    labels = np.zeros((size, len(LABEL_COLUMNS)), dtype=int)
    positive = rng.permutation(size)[: _count(MISOGYNOUS_SHARE, size)]
    labels[positive, 0] = 1
    for j, name in enumerate(TASK_B_LABELS, start=1):
        labels[positive, j] = rng.random(len(positive)) < TASK_B_SHARES[name]
    return labels


def _cue(rng, labels, reliability):
    """The labels a modality shows: the true ones with `reliability`, else a
    random meme's worth of labels."""
    if rng.random() < reliability:
        return labels
    return _draw_labels(rng, 1)[0] if rng.random() < 0.5 else np.zeros_like(labels)


def _make_text(rng, cue):
    words = list(rng.choice(FILLER, size=int(rng.integers(4, 12))))
    extra = []
    if cue[0]:
        extra += list(rng.choice(MISOGYNY_WORDS, size=int(rng.integers(1, 3)), replace=False))
    else:
        extra += list(rng.choice(NEUTRAL_WORDS, size=int(rng.integers(1, 3)), replace=False))
    for name, flag in zip(TASK_B_LABELS, cue[1:]):
        if flag:
            extra.append(str(rng.choice(TASK_B_WORDS[name])))
    for word in extra:
        words.insert(int(rng.integers(len(words) + 1)), str(word))
    if rng.random() < 0.3:
        k = int(rng.integers(len(words)))
        words[k] += str(rng.choice(PUNCTUATION))
    if rng.random() < 0.1:
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(NON_ASCII)))
    if rng.random() < 0.15:
        words.append(str(rng.choice(WATERMARKS)))
    text = " ".join(words)
    # Real transcriptions are often all capitals.
    return text.upper() if rng.random() < 0.6 else text


def _draw_image(rng, cue, text):
    h, w = (int(v) for v in rng.integers(96, 161, size=2))
    colour = np.clip(np.array(MISOGYNY_COLOURS[int(cue[0])]) + rng.integers(-30, 31, 3), 0, 255)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = colour.astype(np.uint8)
    image = cv2.add(image, rng.integers(0, 20, (h, w, 3), dtype=np.uint8))
    r = min(h, w) // 8
    for name, flag in zip(TASK_B_LABELS, cue[1:]):
        if flag:
            cx, cy = MARKER_CORNERS[name]
            centre = (r + 4 if cx == 0 else w - r - 4, r + 30 if cy == 0 else h - r - 24)
            cv2.circle(image, centre, r, (255, 255, 255), -1)
    words = text.split()
    half = len(words) // 2
    for line, y in ((" ".join(words[:half]), 18), (" ".join(words[half:]), h - 8)):
        line = line.encode("ascii", "replace").decode("ascii")  # Hershey fonts are ASCII only
        for thickness, ink in ((3, (0, 0, 0)), (1, (255, 255, 255))):
            cv2.putText(image, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, ink, thickness, cv2.LINE_AA)
    return image


def _write_memes(rng, folder, names, labels, text_reliability, image_reliability):
    texts = []
    for name, row in zip(names, labels):
        text = _make_text(rng, _cue(rng, row, text_reliability))
        image = _draw_image(rng, _cue(rng, row, image_reliability), text)
        path = os.path.join(folder, name)
        if not cv2.imwrite(path, image):
            raise OSError(f"could not write {path}")
        texts.append(text)
    return texts


def write_synthetic_mami(
    out_dir, size=1000, seed=0, test_size=None, text_reliability=0.8, image_reliability=0.8
):
    """Write a synthetic MAMI copy in the official layout (written atomically).

    `size` memes go to TRAINING, `test_size` (default size // 10, the real
    10,000 : 1,000) to test. Half of each split is misogynous, as in the real
    data; task-B labels occur only on misogynous memes, at roughly the real
    rates. The text shows the labels' keywords and the picture shows them as a
    background colour (misogyny) and corner markers (task B), each with its own
    reliability and otherwise a random meme's labels, so either modality alone
    beats chance. Texts carry URLs, watermarks, non-ASCII characters and
    punctuation for the cleaning to remove.

    The folder is written with `io.atomic_output_dir`: an existing `out_dir`
    is replaced only if memotion-tf wrote it (its `.memotion-tf` marker) and
    it holds nothing else; a file, or a folder holding anything memotion-tf
    did not write, is refused with `io.OutputError` before anything is written.
    """
    if test_size is None:
        test_size = max(1, size // 10)
    if size < 1 or test_size < 1:
        raise ValueError("size and test_size must be positive")
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(1, 2 * (size + test_size) + 1))
    train_names = [f"{i}.jpg" for i in ids[:size]]
    test_names = [f"{i}.jpg" for i in ids[size : size + test_size]]
    train_labels = _draw_labels(rng, size)
    test_labels = _draw_labels(rng, test_size)

    with atomic_output_dir(out_dir, purpose="synthetic mami data set") as tmp:
        train_dir = os.path.join(tmp, TRAINING_DIR)
        test_dir = os.path.join(tmp, TEST_DIR)
        os.makedirs(train_dir)
        os.makedirs(test_dir)
        texts = _write_memes(rng, train_dir, train_names, train_labels, text_reliability, image_reliability)
        training = pd.DataFrame(train_labels, columns=list(LABEL_COLUMNS))
        training.insert(0, "file_name", train_names)
        training[TEXT_COLUMN] = texts
        training.to_csv(os.path.join(train_dir, TRAINING_FILE), sep="\t", index=False)

        texts = _write_memes(rng, test_dir, test_names, test_labels, text_reliability, image_reliability)
        pd.DataFrame({"file_name": test_names, TEXT_COLUMN: texts}).to_csv(
            os.path.join(test_dir, TEST_FILE), sep="\t", index=False
        )
        gold = pd.DataFrame(test_labels, columns=list(LABEL_COLUMNS))
        gold.insert(0, "file_name", test_names)
        gold.to_csv(os.path.join(test_dir, TEST_LABELS_FILE), sep="\t", index=False, header=False)
    return out_dir
