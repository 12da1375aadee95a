"""Memotion 7k (SemEval-2020 Task 8): read the official layout, write it synthetically.

Official layout (Kaggle "memotion-dataset-7k", folder `memotion_dataset_7k/`):

    labels.csv     unnamed index, image_name, text_ocr, text_corrected, humour,
                   sarcasm, offensive, motivational, overall_sentiment
    images/<image_name>   mixed extensions (.jpg .jpeg .JPG .png .PNG .bmp .jpe)

The reader needs only the columns its task uses, so copies that carry only
`overall_sentiment` work for task A. `labels_pd_pickle` also ships and is never
read: unpickling a downloaded file can run arbitrary code.

The official test release (the task's CodaLab page; gold labels released after
the evaluation) is a separate folder:

    2000_testdata.csv         Image_name, Image_URL, OCR_extracted_text, corrected_text
    2000_data/<Image_name>    the images
    Meme_groundTruth.csv      Image_name, Labels: "A_BBBB_CCCC" (some copies name it
                              "Meme_groundTruth .csv"); A in -1 / 0 / 1 (negative,
                              neutral, positive), B the four yes/no labels (humour,
                              sarcasm, offensive, motivational), C their levels

`read_memotion7k_test` reads it; without the gold file the memes come without
labels, and `submission_lines` writes predictions in the task's answer format.
"""

import dataclasses
import os
import re

import cv2
import numpy as np
import pandas as pd

from memotion_tf.datasets.common import (
    DataError, DuplicateReport, apply_duplicate_rule, check_duplicate_policy, read_csv, refuse_pickle,
    resolve_inside,
)
from memotion_tf.io import atomic_output_dir

LABELS_FILE = "labels.csv"
IMAGES_DIR = "images"

LEVELS = {
    "humour": ("not_funny", "funny", "very_funny", "hilarious"),
    "sarcasm": ("not_sarcastic", "general", "twisted_meaning", "very_twisted"),
    "offensive": ("not_offensive", "slight", "very_offensive", "hateful_offensive"),
    "motivational": ("not_motivational", "motivational"),
}
SENTIMENTS = ("very_negative", "negative", "neutral", "positive", "very_positive")
TASK_A_CLASSES = ("negative", "neutral", "positive")
_SENTIMENT_TO_A = {"very_negative": 0, "negative": 0, "neutral": 1, "positive": 2, "very_positive": 2}

# Task -> label columns it needs. A: 3-class sentiment; B: four binary labels
# ("not_*" = 0); C: the levels of each of the four labels.
TASK_COLUMNS = {
    "A": ("overall_sentiment",),
    "B": tuple(LEVELS),
    "C": tuple(LEVELS),
}

# Task A counts of the official training set (positive, neutral, negative).
REAL_TASK_A_COUNTS = {"positive": 4160, "neutral": 2201, "negative": 631}


@dataclasses.dataclass
class MemotionData:
    """Rows of labels.csv that passed validation.

    `frame` has columns `row` (1-based data row of labels.csv), `image_name`,
    `image_path`, `text` and, for task A, `label` (index into `class_names`);
    for tasks B and C one integer column per label name. `duplicates` says
    which images were listed twice and what the duplicate rule did.
    """

    frame: pd.DataFrame
    task: str
    class_names: tuple
    labels_file: str
    duplicates: DuplicateReport = dataclasses.field(default_factory=DuplicateReport)


def label_columns(task):
    if task not in TASK_COLUMNS:
        raise ValueError(f"unknown Memotion task {task!r}; expected one of {sorted(TASK_COLUMNS)}")
    return ["label"] if task == "A" else list(TASK_COLUMNS[task])


def read_memotion7k(data_dir, task="A", text_field="text_corrected", duplicates="error"):
    """Read `labels.csv` and resolve image paths. Images are not opened here:
    `datasets.common.check_images` does that once, before training.

    Args:
        data_dir: the dataset folder, holding `labels.csv` and `images/`.
        task: "A", "B" or "C" (see `TASK_COLUMNS`).
        text_field: the text column (`text_corrected` or `text_ocr`).
        duplicates: what to do with two rows naming the same image with
            different labels for `task` (see `common.DuplicateReport`):
            "error" (default), "skip" (drop them, counted) or "keep".

    Raises DataError, naming file, row and column, for a missing folder or
    file, a pickle, a file that is empty, not UTF-8 or has no data rows, a
    missing column, an unknown label, an image name escaping `images/`, and
    (by default) conflicting duplicates.
    """
    check_duplicate_policy(duplicates)
    data_dir = os.fspath(data_dir)
    if os.path.isfile(data_dir):
        refuse_pickle(data_dir)
        raise DataError("expected the dataset folder (with labels.csv and images/)", file=data_dir)
    if not os.path.isdir(data_dir):
        raise DataError("dataset folder not found (expected labels.csv and images/ in it)", file=data_dir)
    labels_file = os.path.join(data_dir, LABELS_FILE)
    if not os.path.exists(labels_file):
        pickled = [n for n in ("labels_pd_pickle",) if os.path.exists(os.path.join(data_dir, n))]
        hint = f"; {pickled[0]} is present but is never unpickled" if pickled else ""
        raise DataError(f"{LABELS_FILE} not found{hint}", file=data_dir)
    if task not in TASK_COLUMNS:
        raise ValueError(f"unknown Memotion task {task!r}; expected one of {sorted(TASK_COLUMNS)}")
    needed = ["image_name", text_field, *TASK_COLUMNS[task]]
    raw = read_csv(labels_file, needed)
    images_dir = os.path.join(data_dir, IMAGES_DIR)

    out = {"row": [], "image_name": [], "image_path": [], "text": []}
    labels = {c: [] for c in label_columns(task)}
    # Label value -> index, per column: task A's 3-class merge, else the level's position.
    allowed_values = {
        column: _SENTIMENT_TO_A if task == "A" else {v: j for j, v in enumerate(LEVELS[column])}
        for column in TASK_COLUMNS[task]
    }
    for i, record in enumerate(raw[needed].itertuples(index=False, name=None), start=1):
        name, text, *values = (v.strip() if isinstance(v, str) else v for v in record)
        out["row"].append(i)
        out["image_name"].append(name)
        out["image_path"].append(resolve_inside(images_dir, name, labels_file, i, "image_name"))
        out["text"].append(text)
        for column, value in zip(TASK_COLUMNS[task], values):
            allowed = allowed_values[column]
            if value not in allowed:
                raise DataError(
                    f"unknown label {value!r}; expected one of {list(allowed)}",
                    file=labels_file, row=i, column=column,
                )
            index = allowed[value]
            if task == "A":
                labels["label"].append(index)
            else:
                labels[column].append(int(index > 0) if task == "B" else index)
    frame = pd.DataFrame({**out, **labels})
    frame, report = apply_duplicate_rule(frame, "image_name", label_columns(task), duplicates, labels_file)
    class_names = TASK_A_CLASSES if task == "A" else tuple(TASK_COLUMNS[task])
    return MemotionData(frame=frame, task=task, class_names=class_names, labels_file=labels_file,
                        duplicates=report)


TEST_FILE = "2000_testdata.csv"
TEST_IMAGES_DIR = "2000_data"
GOLD_FILES = ("Meme_groundTruth.csv", "Meme_groundTruth .csv")
# Our text field -> the test release's column of the same text.
TEST_TEXT_COLUMNS = {"text_corrected": "corrected_text", "text_ocr": "OCR_extracted_text"}
# The answer format's task-A values, in TASK_A_CLASSES order.
TASK_A_CODES = ("-1", "0", "1")
_GOLD_PATTERN = re.compile(r"^(-1|0|1)_([01]{4})_([0-3]{3}[01])$")


@dataclasses.dataclass
class MemotionTestData:
    """The official test release: `frame` as `MemotionData.frame` (`row` is the
    data row of 2000_testdata.csv), with the task's label columns only when
    the gold file is present (`gold_file`, else None)."""

    frame: pd.DataFrame
    task: str
    class_names: tuple
    test_file: str
    gold_file: object = None


def find_gold_file(data_dir):
    """The gold labels' file of a test release, under either name it circulates with; None if absent."""
    for name in GOLD_FILES:
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    return None


def parse_gold_label(value, file, row):
    """`"A_BBBB_CCCC"` -> {"label": task-A index, "humour_b": ..., "humour_c": ...}."""
    match = _GOLD_PATTERN.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise DataError(f"malformed label {value!r}; expected A_BBBB_CCCC with A in -1/0/1, B four 0/1 "
                        f"digits and C the four levels (0-3, 0-3, 0-3, 0-1), e.g. 1_1100_1210",
                        file=file, row=row, column="Labels")
    a, b, c = match.groups()
    parsed = {"label": TASK_A_CODES.index(a)}
    for j, name in enumerate(LEVELS):
        parsed[f"{name}_b"], parsed[f"{name}_c"] = int(b[j]), int(c[j])
    return parsed


def read_memotion7k_test(data_dir, task="A", text_field="text_corrected"):
    """Read Memotion's official test release (see the module docstring).

    Every meme of 2000_testdata.csv is kept, in its order, also those whose
    image is missing (the official scorer counts all of them). With the gold
    file, each meme gets the task's labels: task A `label`, task B / C one
    column per label (its yes/no, or its level). Raises DataError naming file,
    row and column for a missing file or column, a malformed gold label, a
    test meme without gold, an image name escaping `2000_data/`.
    """
    data_dir = os.fspath(data_dir)
    if task not in TASK_COLUMNS:
        raise ValueError(f"unknown Memotion task {task!r}; expected one of {sorted(TASK_COLUMNS)}")
    if text_field not in TEST_TEXT_COLUMNS:
        raise DataError(f"text field {text_field!r} has no column in the test release; expected one of "
                        f"{sorted(TEST_TEXT_COLUMNS)}", file=data_dir)
    test_file = os.path.join(data_dir, TEST_FILE)
    if not os.path.isdir(data_dir) or not os.path.exists(test_file):
        raise DataError(f"{TEST_FILE} not found: the test split reads Memotion's official test release "
                        f"({TEST_FILE}, {TEST_IMAGES_DIR}/ and, for scores, {GOLD_FILES[0]})", file=data_dir)
    column = TEST_TEXT_COLUMNS[text_field]
    raw = read_csv(test_file, ["Image_name", column])
    images_dir = os.path.join(data_dir, TEST_IMAGES_DIR)
    out = {"row": [], "image_name": [], "image_path": [], "text": []}
    for i, (name, text) in enumerate(raw[["Image_name", column]].itertuples(index=False, name=None), start=1):
        name = name.strip()
        out["row"].append(i)
        out["image_name"].append(name)
        out["image_path"].append(resolve_inside(images_dir, name, test_file, i, "Image_name"))
        out["text"].append(text.strip())
    frame = pd.DataFrame(out)
    seen = frame["image_name"].duplicated()
    if seen.any():
        i = int(np.flatnonzero(seen.to_numpy())[0])
        raise DataError(f"image {frame['image_name'][i]!r} listed twice", file=test_file,
                        row=int(frame["row"][i]), column="Image_name")
    gold_file = find_gold_file(data_dir)
    if gold_file is not None:
        gold = read_csv(gold_file, ["Image_name", "Labels"])
        labels = {}
        for i, (name, value) in enumerate(gold[["Image_name", "Labels"]].itertuples(index=False, name=None),
                                          start=1):
            name = name.strip()
            if name in labels:
                raise DataError(f"image {name!r} listed twice", file=gold_file, row=i, column="Image_name")
            labels[name] = parse_gold_label(value, gold_file, i)
        absent = [(row, name) for row, name in zip(frame["row"], frame["image_name"]) if name not in labels]
        if absent:
            raise DataError(f"{len(absent)} test meme(s) have no gold label, the first {absent[0][1]!r}",
                            file=test_file, row=int(absent[0][0]), column="Image_name")
        parsed = [labels[name] for name in frame["image_name"]]
        if task == "A":
            frame["label"] = [p["label"] for p in parsed]
        else:
            suffix = "_b" if task == "B" else "_c"
            for name in LEVELS:
                frame[name] = [p[name + suffix] for p in parsed]
    class_names = TASK_A_CLASSES if task == "A" else tuple(TASK_COLUMNS[task])
    return MemotionTestData(frame=frame, task=task, class_names=class_names, test_file=test_file,
                            gold_file=gold_file)


def submission_lines(task, predictions):
    """The task's answer format, one `A_BBBB_CCCC` line per meme, `9` where a task
    is not answered. `predictions`: task A, class indices; B / C, {label: values}."""
    lines = []
    count = len(predictions) if task == "A" else len(next(iter(predictions.values())))
    for i in range(count):
        a, b, c = "9", "9999", "9999"
        if task == "A":
            a = TASK_A_CODES[int(predictions[i])]
        else:
            digits = "".join(str(int(predictions[name][i])) for name in LEVELS)
            b, c = (digits, c) if task == "B" else (b, digits)
        lines.append(f"{a}_{b}_{c}")
    return lines


# --------------------------------------------------------------------------
# Synthetic copy in the same layout.
# --------------------------------------------------------------------------

# Words whose presence carries the class (index into TASK_A_CLASSES).
KEYWORDS = (
    ("hate", "awful", "worst", "angry", "cry", "disaster", "ugh", "broken"),
    ("monday", "meeting", "okay", "whatever", "average", "meh", "routine", "normal"),
    ("love", "awesome", "best", "happy", "win", "perfect", "yay", "legend"),
)
FILLER = (
    "when you the a my me and of to is that it this so be at on your for with me "
    "why how what everyone nobody teacher mom dad cat dog friends boss exam pizza "
    "coffee weekend party internet phone game movie school work bro guys finally "
    "again still just really about after before every time day night year people"
).split()
WATERMARKS = ("imgflip.com", "memegenerator.net", "@memes_daily", "https://t.co/xyz")
EXTENSIONS = (".jpg", ".jpeg", ".JPG", ".png", ".PNG", ".bmp", ".jpe")
# Background colours (BGR) and shapes that carry the class in the picture.
CUE_COLOURS = ((40, 40, 190), (150, 150, 150), (40, 190, 220))
CUE_SHAPES = ("circle", "square", "triangle")


def _class_counts(size):
    total = sum(REAL_TASK_A_COUNTS.values())
    shares = [REAL_TASK_A_COUNTS[c] / total for c in TASK_A_CLASSES]
    counts = [max(1, int(round(size * s))) for s in shares]
    counts[2] += size - sum(counts)
    return counts


def _cue(rng, label, reliability):
    """The class a modality shows: the true one with `reliability`, else a random one."""
    return label if rng.random() < reliability else int(rng.integers(3))


def _draw_image(rng, cue, text, grayscale):
    h, w = (int(v) for v in rng.integers(140, 240, size=2))
    colour = np.clip(np.array(CUE_COLOURS[cue]) + rng.integers(-35, 36, 3), 0, 255)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = colour.astype(np.uint8)
    image = cv2.add(image, rng.integers(0, 25, (h, w, 3), dtype=np.uint8))
    cx, cy, r = w // 2 + int(rng.integers(-20, 21)), h // 2 + int(rng.integers(-20, 21)), min(h, w) // 4
    fg = tuple(int(255 - c) for c in colour)
    shape = CUE_SHAPES[cue]
    if shape == "circle":
        cv2.circle(image, (cx, cy), r, fg, -1)
    elif shape == "square":
        cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), fg, -1)
    else:
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(image, [pts], fg)
    words = text.upper().split()
    for line, y in ((" ".join(words[: len(words) // 2]), 22), (" ".join(words[len(words) // 2 :]), h - 12)):
        for thickness, ink in ((3, (0, 0, 0)), (1, (255, 255, 255))):
            cv2.putText(image, line, (5, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, ink, thickness, cv2.LINE_AA)
    if grayscale:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def _make_text(rng, cue):
    words = list(rng.choice(FILLER, size=int(rng.integers(4, 16))))
    for keyword in rng.choice(KEYWORDS[cue], size=int(rng.integers(1, 3)), replace=False):
        words.insert(int(rng.integers(len(words) + 1)), keyword)
    if rng.random() < 0.08:
        words.append(str(rng.choice(WATERMARKS)))
    return " ".join(words)


def write_synthetic_memotion7k(
    out_dir, size=6992, seed=0, text_reliability=0.8, image_reliability=0.8,
    empty_texts=None, missing_images=2, corrupt_images=2,
):
    """Write a synthetic Memotion 7k copy in the official layout.

    The task-A label is drawn with the real imbalance (631:2201:4160). The text
    shows the label's keywords, and the picture the label's colour and shape,
    each with its own reliability and otherwise a random class's, so each
    modality alone beats chance and the two together beat either. A few texts
    are empty, extensions vary, some pictures are grayscale, and a few
    referenced images are missing or corrupt, as in the real data.

    The folder is written with `io.atomic_output_dir`: an existing `out_dir`
    is replaced only if memotion-tf wrote it (its `.memotion-tf` marker) and
    it holds nothing else; a file, or a folder holding anything memotion-tf
    did not write, is refused with `io.OutputError` before anything is written.
    """
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(_class_counts(size))])
    rng.shuffle(labels)
    if empty_texts is None:
        empty_texts = max(1, size // 200)
    special = rng.permutation(size)
    empty = set(special[:empty_texts].tolist())
    missing = set(special[empty_texts : empty_texts + missing_images].tolist())
    corrupt = set(special[empty_texts + missing_images : empty_texts + missing_images + corrupt_images].tolist())

    rows = []
    with atomic_output_dir(out_dir, purpose="synthetic memotion7k data set") as tmp:
        os.makedirs(os.path.join(tmp, IMAGES_DIR))
        for i, label in enumerate(labels):
            label = int(label)
            text = _make_text(rng, _cue(rng, label, text_reliability))
            ext = EXTENSIONS[i % len(EXTENSIONS)]
            name = f"image_{i + 1}{ext}"
            image = _draw_image(rng, _cue(rng, label, image_reliability), text, rng.random() < 0.03)
            path = os.path.join(tmp, IMAGES_DIR, name)
            if i in corrupt:
                with open(path, "wb") as f:
                    f.write(b"\xff\xd8\xff\xe0 not really a jpeg" if i % 2 else rng.bytes(64))
            elif i not in missing:
                # cv2 picks the codec from the extension; .jpe is JPEG.
                if not cv2.imwrite(path, image):
                    raise OSError(f"could not write {path}")
            if label == 0:
                sentiment = "very_negative" if rng.random() < 0.3 else "negative"
            elif label == 2:
                sentiment = "very_positive" if rng.random() < 0.35 else "positive"
            else:
                sentiment = "neutral"
            corrected = "" if i in empty else text
            rows.append({
                "image_name": name,
                "text_ocr": text.upper(),
                "text_corrected": corrected,
                **{k: str(rng.choice(v)) for k, v in LEVELS.items()},
                "overall_sentiment": sentiment,
            })
        pd.DataFrame(rows).to_csv(os.path.join(tmp, LABELS_FILE), index=True)
    return out_dir


def write_synthetic_memotion7k_test(out_dir, size=60, seed=1, gold=True, gold_name=GOLD_FILES[0],
                                    text_reliability=0.8, image_reliability=0.8, missing_images=1):
    """Write a synthetic test release in the official layout (2000_testdata.csv,
    2000_data/, and with `gold` the ground truth as `gold_name`), drawn like the
    synthetic training copy so that a model trained on that one scores here.
    The gold file lists the memes in another order than 2000_testdata.csv, as a
    reader must join them by image name."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(_class_counts(size))])
    rng.shuffle(labels)
    missing = set(rng.permutation(size)[:missing_images].tolist())
    tests, golds = [], []
    with atomic_output_dir(out_dir, purpose="synthetic memotion7k test release") as tmp:
        os.makedirs(os.path.join(tmp, TEST_IMAGES_DIR))
        for i, label in enumerate(labels):
            label = int(label)
            text = _make_text(rng, _cue(rng, label, text_reliability))
            name = f"test_{i + 1}{EXTENSIONS[i % len(EXTENSIONS)]}"
            if i not in missing:
                image = _draw_image(rng, _cue(rng, label, image_reliability), text, False)
                if not cv2.imwrite(os.path.join(tmp, TEST_IMAGES_DIR, name), image):
                    raise OSError(f"could not write {name}")
            tests.append({"Image_name": name, "Image_URL": f"https://example.invalid/{name}",
                          "OCR_extracted_text": text.upper(), "corrected_text": text})
            levels = [int(rng.integers(len(v))) for v in LEVELS.values()]
            golds.append({"Image_name": name, "Labels": f"{TASK_A_CODES[label]}_"
                          f"{''.join(str(int(v > 0)) for v in levels)}_{''.join(str(v) for v in levels)}"})
        pd.DataFrame(tests).to_csv(os.path.join(tmp, TEST_FILE), index=False)
        if gold:
            order = rng.permutation(size)
            pd.DataFrame([golds[j] for j in order]).to_csv(os.path.join(tmp, gold_name), index=False)
    return out_dir
