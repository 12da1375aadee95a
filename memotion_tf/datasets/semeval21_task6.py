"""SemEval-2021 Task 6, subtask 3 (persuasion techniques in memes): read the
official layout, write it synthetically.

Official layout (GitHub di-dimitrov/SEMEVAL-2021-task6-corpus, subtask 3 zips):

    training_set_task3/training_set_task3.txt          687 memes
    dev_set_task3_labeled/dev_set_task3_labeled.txt     63 memes
    test_set_task3/test_set_task3.txt                  200 memes

Each `.txt` file is a UTF-8 JSON array of objects

    {"id": "125", "labels": ["Loaded Language", ...],
     "text": "I HATE TRUMP\\n\\nMOST TERRORIST DO", "image": "125_image.png"}

and the images sit beside it in the same folder. Some files named `.png` are
JPEG inside, so images are decoded by content (`datasets.common.check_images`
uses `tf.io.decode_image`), never by extension. The text keeps its sentence
separator "\\n\\n", as the 1213Li paper does. Labels are multi-label: a meme
carries zero or more of the 22 `TECHNIQUES`.

Example:

    data = read_semeval21_task6("path/to/corpus", split="train")
    data.frame[["id", "text", "labels"]]   # one row per meme
    data.targets                           # (memes, 22) multi-hot, TECHNIQUES order
"""

import dataclasses
import difflib
import json
import os

import cv2
import numpy as np
import pandas as pd

from memotion_tf.datasets.common import DataError, read_json_array, refuse_pickle, resolve_inside
from memotion_tf.io import atomic_directory

# The 22 technique names of subtask 3, exactly as in `techniques_list_task3.txt`
# and in that file's order (which is also the column order of `targets`).
TECHNIQUES = (
    "Appeal to authority",
    "Appeal to fear/prejudice",
    "Black-and-white Fallacy/Dictatorship",
    "Causal Oversimplification",
    "Doubt",
    "Exaggeration/Minimisation",
    "Flag-waving",
    "Glittering generalities (Virtue)",
    "Loaded Language",
    "Misrepresentation of Someone's Position (Straw Man)",
    "Name calling/Labeling",
    "Obfuscation, Intentional vagueness, Confusion",
    "Presenting Irrelevant Data (Red Herring)",
    "Reductio ad hitlerum",
    "Repetition",
    "Slogans",
    "Smears",
    "Thought-terminating cliché",
    "Whataboutism",
    "Bandwagon",
    "Transfer",
    "Appeal to (Strong) Emotions",
)
_TECHNIQUE_INDEX = {name: i for i, name in enumerate(TECHNIQUES)}

# split -> (folder, JSON file inside it)
SPLITS = {
    "train": ("training_set_task3", "training_set_task3.txt"),
    "dev": ("dev_set_task3_labeled", "dev_set_task3_labeled.txt"),
    "test": ("test_set_task3", "test_set_task3.txt"),
}
REAL_SIZES = (687, 63, 200)  # train, dev, test
REQUIRED_KEYS = ("id", "labels", "text", "image")


@dataclasses.dataclass
class SemEval21Task6Data:
    """The memes of one split that passed validation.

    `frame` has columns `row` (1-based position in the JSON array), `id`,
    `text` (sentences still joined by "\\n\\n"), `image_name` (as in the file),
    `image_path` (resolved inside the split folder) and `labels` (list of
    technique names, as in the file). `targets` is the multi-hot matrix of
    `frame["labels"]` over `class_names`, recomputed from the frame so it stays
    aligned after rows are dropped (e.g. by `check_images`).
    """

    frame: pd.DataFrame
    split: str
    json_file: str
    class_names: tuple = TECHNIQUES

    @property
    def targets(self):
        return multi_hot(self.frame["labels"])


def multi_hot(label_lists):
    """(n, 22) float32 matrix with 1 where a meme carries a technique
    (columns in `TECHNIQUES` order). Names must be exact."""
    label_lists = list(label_lists)
    out = np.zeros((len(label_lists), len(TECHNIQUES)), np.float32)
    for i, labels in enumerate(label_lists):
        for name in labels:
            if name not in _TECHNIQUE_INDEX:
                raise ValueError(f"unknown technique {name!r} in meme {i}")
            out[i, _TECHNIQUE_INDEX[name]] = 1.0
    return out


def unknown_technique_message(name):
    """'unknown technique X' plus the closest exact name, if any (e.g. a
    missing accent in 'cliché' or different capitalisation)."""
    close = difflib.get_close_matches(str(name), TECHNIQUES, n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]!r}?" if close else "; see techniques_list_task3.txt"
    return f"unknown technique {name!r}{hint}"


def split_file(data_dir, split):
    """Path of the JSON file of `split` ("train", "dev" or "test")."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    folder, name = SPLITS[split]
    return os.path.join(data_dir, folder, name)


def check_label_list(labels, where, file, row):
    """`labels` must be a list of exact technique names; else a DataError at `row`."""
    if not isinstance(labels, list):
        raise DataError(
            f"{where}labels must be a list of technique names, found {type(labels).__name__}",
            file=file, row=row, column="labels",
        )
    for name in labels:
        if not isinstance(name, str) or name not in _TECHNIQUE_INDEX:
            raise DataError(where + unknown_technique_message(name), file=file, row=row, column="labels")
    return labels


def _load_json_array(path):
    return read_json_array(path, expected="a JSON array of memes")


def read_semeval21_task6(data_dir, split="train", require_labels=True):
    """Read one split and resolve its image paths. Images are not opened here:
    `datasets.common.check_images` decodes each once, by content, before training.

    Args:
        data_dir: the folder holding the three split folders.
        split: "train", "dev" or "test".
        require_labels: with False, an entry without "labels" (e.g. the test
            file as first released, before the gold labels) reads as no labels.

    Every entry must have "id", "labels", "text" and "image" of the right type;
    every label must be one of `TECHNIQUES`, exactly; ids must be unique.
    Anything else raises `DataError` naming the file, the row and the id.
    """
    data_dir = os.fspath(data_dir)
    if os.path.isfile(data_dir):
        refuse_pickle(data_dir)
        raise DataError("expected the corpus folder (with the split folders)", file=data_dir)
    json_file = split_file(data_dir, split)
    if not os.path.isdir(data_dir):
        raise DataError("corpus folder not found", file=data_dir)
    if not os.path.isdir(os.path.dirname(json_file)):
        found = sorted(os.listdir(data_dir))
        raise DataError(f"split folder {SPLITS[split][0]}/ not found; found {found}", file=data_dir)
    entries = _load_json_array(json_file)
    folder = os.path.dirname(json_file)

    columns = {k: [] for k in ("row", "id", "text", "image_name", "image_path", "labels")}
    seen = {}
    for row, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise DataError(f"expected a JSON object, found {type(entry).__name__}", file=json_file, row=row)
        meme_id = entry.get("id")
        if "id" not in entry:
            raise DataError("missing key 'id'", file=json_file, row=row, column="id")
        if not isinstance(meme_id, str) or not meme_id:
            raise DataError(
                f"id must be a non-empty string, found {meme_id!r}", file=json_file, row=row, column="id"
            )
        where = f"id {meme_id!r}: "
        if meme_id in seen:
            raise DataError(
                f"{where}duplicate id (first at row {seen[meme_id]})", file=json_file, row=row, column="id"
            )
        seen[meme_id] = row
        for key in REQUIRED_KEYS[1:]:
            if key not in entry and not (key == "labels" and not require_labels):
                raise DataError(f"{where}missing key {key!r}", file=json_file, row=row, column=key)
        labels = check_label_list(entry.get("labels", []), where, json_file, row)
        for key in ("text", "image"):
            if not isinstance(entry[key], str):
                raise DataError(
                    f"{where}{key} must be a string, found {type(entry[key]).__name__}",
                    file=json_file, row=row, column=key,
                )
        try:
            image_path = resolve_inside(folder, entry["image"], json_file, row, "image")
        except DataError as e:
            # Same error, with the meme's id put in front of the message.
            prefix = str(DataError("", file=json_file, row=row, column="image"))
            message = str(e)[len(prefix):] if str(e).startswith(prefix) else str(e)
            raise DataError(where + message, file=json_file, row=row, column="image") from None
        columns["row"].append(row)
        columns["id"].append(meme_id)
        columns["text"].append(entry["text"])
        columns["image_name"].append(entry["image"])
        columns["image_path"].append(image_path)
        columns["labels"].append(list(labels))
    frame = pd.DataFrame(columns)
    return SemEval21Task6Data(frame=frame, split=split, json_file=json_file)


# --------------------------------------------------------------------------
# Synthetic copy in the same layout.
# --------------------------------------------------------------------------

# Share of memes carrying each technique. Hand-set to resemble the published
# subtask-3 statistics (no official counts are copied): Smears, Loaded Language
# and Name calling are frequent; Reductio ad hitlerum, Obfuscation, Presenting
# Irrelevant Data and Bandwagon are rare. About 2.9 labels per meme on average,
# so most memes carry 2-5 labels and a few none.
PREVALENCE = {
    "Appeal to authority": 0.045,
    "Appeal to fear/prejudice": 0.12,
    "Black-and-white Fallacy/Dictatorship": 0.04,
    "Causal Oversimplification": 0.04,
    "Doubt": 0.07,
    "Exaggeration/Minimisation": 0.10,
    "Flag-waving": 0.06,
    "Glittering generalities (Virtue)": 0.10,
    "Loaded Language": 0.50,
    "Misrepresentation of Someone's Position (Straw Man)": 0.015,
    "Name calling/Labeling": 0.38,
    "Obfuscation, Intentional vagueness, Confusion": 0.006,
    "Presenting Irrelevant Data (Red Herring)": 0.006,
    "Reductio ad hitlerum": 0.02,
    "Repetition": 0.02,
    "Slogans": 0.10,
    "Smears": 0.54,
    "Thought-terminating cliché": 0.03,
    "Whataboutism": 0.04,
    "Bandwagon": 0.006,
    "Transfer": 0.15,
    "Appeal to (Strong) Emotions": 0.09,
}

# Where each technique shows: in the words, in the picture, or only in both
# together (the paper's "global" techniques; each half alone also appears as a
# distractor in memes without the technique, so only fusion separates them).
TEXT_CUES = {
    "Appeal to authority": ("experts", "scientists say"),
    "Appeal to fear/prejudice": ("invasion", "they will destroy"),
    "Black-and-white Fallacy/Dictatorship": ("only two choices", "either or"),
    "Causal Oversimplification": ("because of", "all thanks to"),
    "Doubt": ("really?", "allegedly"),
    "Exaggeration/Minimisation": ("worst ever", "biggest in history"),
    "Glittering generalities (Virtue)": ("freedom", "values"),
    "Loaded Language": ("disgusting", "outrageous", "pathetic"),
    "Misrepresentation of Someone's Position (Straw Man)": ("so you want", "they basically say"),
    "Name calling/Labeling": ("clown", "traitor", "snowflake"),
    "Obfuscation, Intentional vagueness, Confusion": ("somehow", "things happen"),
    "Presenting Irrelevant Data (Red Herring)": ("meanwhile bananas", "by the way weather"),
    "Reductio ad hitlerum": ("regime",),
    "Slogans": ("make it great", "stand together"),
    "Smears": ("corrupt",),
    "Thought-terminating cliché": ("it is what it is", "enough said"),
    "Whataboutism": ("what about", "but her"),
    "Bandwagon": ("everyone agrees", "join millions"),
}
# (BGR colour, shape) of the marker a technique draws in the picture.
IMAGE_CUES = {
    "Appeal to fear/prejudice": ((20, 20, 200), "triangle"),
    "Flag-waving": ((200, 60, 20), "stripes"),
    "Reductio ad hitlerum": ((10, 10, 10), "square"),
    "Smears": ((30, 120, 230), "ring"),
    "Transfer": ((40, 200, 40), "circle"),
    "Appeal to (Strong) Emotions": ((180, 40, 200), "heart"),
}
BOTH = ("Appeal to fear/prejudice", "Reductio ad hitlerum", "Smears")  # need text AND image
# Repetition shows as a sentence said twice rather than as a word.

FILLER = (
    "america people country president election vote news media government tax law money "
    "jobs border health virus vaccine school church police war party left right "
    "democrats republicans liberals conservatives congress senate state world history year "
    "today tomorrow always never again still just only the a of to is are was were this that "
    "they we you our their who when why how what here there now"
).split()
CUE_RELIABILITY = 0.9  # chance a present technique shows its cue(s)
DISTRACTOR_RATE = 0.03  # chance an absent text/image technique shows its cue anyway
HALF_CUE_RATE = 0.15  # chance an absent "both" technique shows one of its two cues
JPEG_AS_PNG = 0.2  # share of .png files that hold JPEG bytes, as in the real corpus
JPEG_FILES = 0.15  # share of images honestly saved as .jpg


def _sample_labels(rng, size):
    """Independent draws per technique at `PREVALENCE`, TECHNIQUES order."""
    p = np.array([PREVALENCE[t] for t in TECHNIQUES])
    return rng.random((size, len(TECHNIQUES))) < p


def _sentence(rng, low=3, high=9):
    return " ".join(rng.choice(FILLER, size=int(rng.integers(low, high))))


def _make_text(rng, text_cues, repeat):
    sentences = [_sentence(rng) for _ in range(int(rng.integers(2, 5)))]
    for cue in text_cues:
        i = int(rng.integers(len(sentences)))
        words = sentences[i].split()
        words.insert(int(rng.integers(len(words) + 1)), cue)
        sentences[i] = " ".join(words)
    if repeat:
        sentences.insert(int(rng.integers(len(sentences) + 1)), sentences[0])
    if rng.random() < 0.7:  # most real meme text is upper case
        sentences = [s.upper() for s in sentences]
    text = "\n\n".join(sentences)
    return text + "\n" if rng.random() < 0.4 else text


def _draw_marker(image, rng, colour, shape):
    h, w = image.shape[:2]
    r = max(8, min(h, w) // 7)
    cx, cy = int(rng.integers(r + 2, w - r - 2)), int(rng.integers(r + 30, h - r - 20))
    if shape == "circle":
        cv2.circle(image, (cx, cy), r, colour, -1)
    elif shape == "ring":
        cv2.circle(image, (cx, cy), r, colour, max(3, r // 3))
    elif shape == "square":
        cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), colour, -1)
    elif shape == "triangle":
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(image, [pts], colour)
    elif shape == "stripes":
        for k in range(3):
            y = cy - r + k * r
            cv2.rectangle(image, (cx - r, y), (cx + r, y + r // 2), colour, -1)
    elif shape == "heart":
        cv2.circle(image, (cx - r // 2, cy - r // 3), r // 2, colour, -1)
        cv2.circle(image, (cx + r // 2, cy - r // 3), r // 2, colour, -1)
        pts = np.array([[cx - r, cy - r // 4], [cx + r, cy - r // 4], [cx, cy + r]], np.int32)
        cv2.fillPoly(image, [pts], colour)


def _draw_image(rng, image_cues, text):
    h, w = (int(v) for v in rng.integers(160, 260, size=2))
    base = rng.integers(90, 200, 3)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = base.astype(np.uint8)
    image = cv2.add(image, rng.integers(0, 30, (h, w, 3), dtype=np.uint8))
    for colour, shape in image_cues:
        _draw_marker(image, rng, colour, shape)
    first = text.split("\n\n")[0].split()
    for line, y in ((" ".join(first[:6]), 20), (" ".join(first[6:12]), h - 10)):
        for thickness, ink in ((3, (0, 0, 0)), (1, (255, 255, 255))):
            cv2.putText(image, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, ink, thickness, cv2.LINE_AA)
    return image


def _cues(rng, present):
    """Text cues and image markers of one meme, given its technique set."""
    text_cues, image_cues = [], []
    for name in TECHNIQUES:
        has = name in present
        in_text, in_image = name in TEXT_CUES, name in IMAGE_CUES
        if name in BOTH:
            if has and rng.random() < CUE_RELIABILITY:
                show_text = show_image = True
            elif not has and rng.random() < HALF_CUE_RATE:
                show_text = rng.random() < 0.5
                show_image = not show_text
            else:
                show_text = show_image = False
        else:
            show = rng.random() < (CUE_RELIABILITY if has else DISTRACTOR_RATE)
            show_text, show_image = show and in_text, show and in_image
        if show_text:
            text_cues.append(str(rng.choice(TEXT_CUES[name])))
        if show_image:
            image_cues.append(IMAGE_CUES[name])
    return text_cues, image_cues


def write_synthetic_semeval21_task6(out_dir, sizes=REAL_SIZES, seed=0):
    """Write a synthetic subtask-3 corpus in the official layout.

    `sizes` gives the memes of (train, dev, test); ids are unique across splits.
    Techniques are drawn at `PREVALENCE` (Smears, Loaded Language and Name
    calling frequent; Bandwagon, Obfuscation, Red Herring, Reductio rare).
    Each technique shows through words in the text (`TEXT_CUES`), a coloured
    shape in the picture (`IMAGE_CUES`) or only through both together
    (`BOTH`); Repetition shows as a repeated sentence. Texts join 2-4
    sentences with "\\n\\n". A share of `.png` files hold JPEG bytes, as in
    the real corpus. The whole folder appears at once (`atomic_directory`).
    """
    if len(sizes) != len(SPLITS) or any(int(n) < 0 for n in sizes):
        raise ValueError(f"sizes must be three non-negative counts (train, dev, test), got {sizes!r}")
    rng = np.random.default_rng(seed)
    total = int(sum(sizes))
    ids = rng.permutation(np.arange(1, total + 1) + 100).tolist()
    start = 0
    with atomic_directory(out_dir) as tmp:
        for split, size in zip(SPLITS, sizes):
            folder_name, json_name = SPLITS[split]
            folder = os.path.join(tmp, folder_name)
            os.makedirs(folder)
            labels = _sample_labels(rng, int(size))
            entries = []
            for k in range(int(size)):
                meme_id = str(ids[start + k])
                present = [t for t, on in zip(TECHNIQUES, labels[k]) if on]
                text_cues, image_cues = _cues(rng, set(present))
                repeat = "Repetition" in present and rng.random() < CUE_RELIABILITY
                text = _make_text(rng, text_cues, repeat)
                image = _draw_image(rng, image_cues, text)
                is_jpeg_file = rng.random() < JPEG_FILES
                name = f"{meme_id}_image.{'jpg' if is_jpeg_file else 'png'}"
                jpeg_bytes = is_jpeg_file or rng.random() < JPEG_AS_PNG
                ok, data = cv2.imencode(".jpg" if jpeg_bytes else ".png", image)
                if not ok:
                    raise OSError(f"could not encode {name}")
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(data.tobytes())
                entries.append({"id": meme_id, "labels": sorted(present), "text": text, "image": name})
            start += int(size)
            with open(os.path.join(folder, json_name), "w", encoding="utf-8") as f:
                json.dump(entries, f, indent=4, ensure_ascii=False)
    return out_dir
