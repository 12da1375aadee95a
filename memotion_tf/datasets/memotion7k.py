"""Memotion 7k (SemEval-2020 Task 8): read the official layout, write it synthetically.

Official layout (Kaggle "memotion-dataset-7k", folder `memotion_dataset_7k/`):

    labels.csv     unnamed index, image_name, text_ocr, text_corrected, humour,
                   sarcasm, offensive, motivational, overall_sentiment
    images/<image_name>   mixed extensions (.jpg .jpeg .JPG .png .PNG .bmp .jpe)

The reader needs only the columns its task uses, so copies that carry only
`overall_sentiment` work for task A. `labels_pd_pickle` also ships and is never
read: unpickling a downloaded file can run arbitrary code.
"""

import dataclasses
import os

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
