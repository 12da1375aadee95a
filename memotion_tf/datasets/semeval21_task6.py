"""SemEval-2021 Task 6, subtask 3 (persuasion techniques in memes): read the
official layout, write it synthetically.

Official layout (GitHub di-dimitrov/SEMEVAL-2021-task6-corpus, subtask 3 zips):

    training_set_task3/training_set_task3.txt          687 memes
    dev_set_task3_labeled/dev_set_task3_labeled.txt     63 memes
    test_set_task3/test_set_task3.txt                  200 memes

Each `.txt` file is a UTF-8 JSON array of objects

    {"id": "125", "labels": ["Loaded Language", ...],
     "text": "I HATE TRUMP\\n\\nMOST TERRORIST DO", "image": "125_image.png"}

and the images sit beside it in the same folder. Copies nested one folder
deeper are read too (`split_file`), e.g. one with
`dev_set_task3/dev_set_task3_labeled.txt` and the images in
`dev_set_task3/dev_set_task3_labeled/`. The test file was first released
without labels; when a split's file has none, the labels come from a gold
file of the same name at the corpus root (`test_set_task3.txt`), and with no
gold anywhere the test split is read without labels (for predictions only).
Some files named `.png` are
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
import logging
import os

import cv2
import numpy as np
import pandas as pd

from memotion_tf.datasets.common import (
    DataError, DuplicateReport, apply_duplicate_rule, check_duplicate_policy, read_json_array, refuse_pickle,
    resolve_inside,
)
from memotion_tf.io import atomic_output_dir

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

log = logging.getLogger("memotion_tf")


@dataclasses.dataclass
class SemEval21Task6Data:
    """The memes of one split that passed validation.

    `frame` has columns `row` (1-based position in the JSON array), `id`,
    `text` (sentences still joined by "\\n\\n"), `image_name` (as in the file),
    `image_path` (resolved inside the split's image folder) and `labels` (list
    of technique names, as in the file; None for every meme of a split read
    without gold labels). `targets` is the multi-hot matrix of
    `frame["labels"]` over `class_names`, recomputed from the frame so it stays
    aligned after rows are dropped (e.g. by `check_images`).

    `json_file` is where the memes were read; `labels_file` where their labels
    were read (the same file, a gold file at the corpus root for a test split
    released without labels, or None when no gold labels exist: then
    `labelled` is False and `targets` raises DataError, and the caller can
    only write predictions). `duplicates` says which images were listed twice
    and what the duplicate rule did.
    """

    frame: pd.DataFrame
    split: str
    json_file: str
    class_names: tuple = TECHNIQUES
    labels_file: str = None
    duplicates: DuplicateReport = dataclasses.field(default_factory=DuplicateReport)

    @property
    def labelled(self):
        return self.labels_file is not None

    @property
    def targets(self):
        if not self.labelled:
            raise DataError(f"the {self.split} split has no gold labels: it can be predicted, not scored",
                            file=self.json_file)
        return multi_hot(self.frame["labels"])


def multi_hot(label_lists):
    """(n, 22) float32 matrix with 1 where a meme carries a technique
    (columns in `TECHNIQUES` order). Names must be exact."""
    label_lists = list(label_lists)
    out = np.zeros((len(label_lists), len(TECHNIQUES)), np.float32)
    for i, labels in enumerate(label_lists):
        if labels is None:
            raise DataError(f"meme {i} has no gold labels (a split read without them): it cannot be scored")
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


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")


def _subfolders(folder):
    """Visible subfolders of `folder`, sorted; notebook checkpoints, macOS
    archive debris and other hidden folders are not data."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [n for n in names if not n.startswith((".", "__MACOSX")) and os.path.isdir(os.path.join(folder, n))]


def split_file(data_dir, split):
    """Path of the JSON file of `split` ("train", "dev" or "test").

    The official layout has `<folder>/<file>` at the corpus root (`SPLITS`);
    copies that nest the split one level deeper are found too:
    `<any folder>/<folder>/<file>` or `<any folder>/<file>` (e.g.
    `dev_set_task3/dev_set_task3_labeled.txt`, with the images in
    `dev_set_task3/dev_set_task3_labeled/`). The official path wins; two
    nested candidates are an error naming both."""
    _check_split(split)
    data_dir = os.fspath(data_dir)
    folder, name = SPLITS[split]
    official = os.path.join(data_dir, folder, name)
    if os.path.isfile(official):
        return official
    nested = []
    for sub in _subfolders(data_dir):
        for candidate in (os.path.join(data_dir, sub, folder, name), os.path.join(data_dir, sub, name)):
            if os.path.isfile(candidate):
                nested.append(candidate)
    if len(nested) > 1:
        raise DataError(f"split {split}: {name} found in more than one place: {nested}; keep one", file=data_dir)
    if nested:
        return nested[0]
    if os.path.isdir(os.path.join(data_dir, folder)):
        return official  # the folder is there: reading says the file is missing
    found = _subfolders(data_dir)
    raise DataError(f"split folder {folder}/ not found, nor {name} one folder deeper; found {found}",
                    file=data_dir)


def _image_folder(json_file, names):
    """The folder holding a split's images: beside the JSON file (official),
    or a folder named after it or after the split next to it (a nested copy).
    The candidate holding most of the listed images wins; ties go to the
    official place."""
    here = os.path.dirname(json_file)
    stem = os.path.splitext(os.path.basename(json_file))[0]
    candidates = [here] + [os.path.join(here, n) for n in (stem,) if os.path.isdir(os.path.join(here, n))]
    if len(candidates) == 1 or not names:
        return here

    def present(folder):
        count = 0
        for name in names:
            try:
                count += os.path.isfile(os.path.join(folder, name))
            except (ValueError, TypeError):
                pass
        return count

    return max(candidates, key=present)  # max keeps the first of equal counts


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
    entries = read_json_array(path, expected="a JSON array of memes")
    if not entries:
        raise DataError("no memes: the file is an empty JSON array", file=path)
    return entries


def _meme_id(entry, file, row):
    if not isinstance(entry, dict):
        raise DataError(f"expected a JSON object, found {type(entry).__name__}", file=file, row=row)
    if "id" not in entry:
        raise DataError("missing key 'id'", file=file, row=row, column="id")
    meme_id = entry["id"]
    if not isinstance(meme_id, str) or not meme_id:
        raise DataError(f"id must be a non-empty string, found {meme_id!r}", file=file, row=row, column="id")
    return meme_id


def _gold_labels(path, ids):
    """id -> labels from a gold file, which must list exactly `ids`."""
    gold = {}
    for row, entry in enumerate(_load_json_array(path), start=1):
        meme_id = _meme_id(entry, path, row)
        where = f"id {meme_id!r}: "
        if meme_id in gold:
            raise DataError(f"{where}duplicate id", file=path, row=row, column="id")
        if "labels" not in entry:
            raise DataError(f"{where}missing key 'labels' in the gold file", file=path, row=row, column="labels")
        gold[meme_id] = list(check_label_list(entry["labels"], where, path, row))
    missing = [i for i in ids if i not in gold]
    extra = [i for i in gold if i not in set(ids)]
    if missing or extra:
        what = f"no gold labels for id(s) {missing[:5]}" if missing else f"id(s) {extra[:5]} not in the split"
        raise DataError(f"the gold file does not match the split: {what}", file=path)
    return gold


def _find_gold(data_dir, json_file):
    """A labelled copy of an unlabelled split file: a file of the same name at
    the corpus root or in a visible subfolder (the released test gold), other
    than `json_file` itself."""
    name = os.path.basename(json_file)
    candidates = [os.path.join(data_dir, name)] + [
        os.path.join(data_dir, sub, name) for sub in _subfolders(data_dir)]
    for candidate in candidates:
        if os.path.isfile(candidate) and not os.path.samefile(candidate, json_file):
            return candidate
    return None


def read_semeval21_task6(data_dir, split="train", require_labels=None, duplicates="error"):
    """Read one split and resolve its image paths. Images are not opened here:
    `datasets.common.check_images` decodes each once, by content, before training.

    Args:
        data_dir: the corpus folder: the official layout, or a copy nested one
            folder deeper (see `split_file`).
        split: "train", "dev" or "test".
        require_labels: whether the split must come with gold labels. None
            (default): train and dev must, test may not. A split file whose
            memes carry no "labels" at all takes them from a gold file of the
            same name at the corpus root (how the test gold was released;
            `labels_file` says which file gave them, and it is logged); with
            none there, the split is read without labels (`labelled` False)
            unless labels are required, which is an error.
        duplicates: what to do with one image listed under two ids with
            different labels (see `common.DuplicateReport`): "error"
            (default), "skip" (drop those memes, counted) or "keep".

    Every entry must have "id", "text" and "image" (and "labels", in a
    labelled file) of the right type; every label must be one of
    `TECHNIQUES`, exactly; ids must be unique; the file must hold at least one
    meme. Anything else raises `DataError` naming the file, the row and the id.
    """
    _check_split(split)
    check_duplicate_policy(duplicates)
    if require_labels is None:
        require_labels = split != "test"
    data_dir = os.fspath(data_dir)
    if os.path.isfile(data_dir):
        refuse_pickle(data_dir)
        raise DataError("expected the corpus folder (with the split folders)", file=data_dir)
    if not os.path.isdir(data_dir):
        raise DataError("corpus folder not found", file=data_dir)
    json_file = split_file(data_dir, split)
    entries = _load_json_array(json_file)
    unlabelled = all(isinstance(e, dict) and "labels" not in e for e in entries)
    labels_file, gold = json_file, None
    if unlabelled:
        ids = [_meme_id(e, json_file, row) for row, e in enumerate(entries, start=1)]
        labels_file = _find_gold(data_dir, json_file)
        if labels_file is not None:
            gold = _gold_labels(labels_file, ids)
            log.info("%s split: labels from %s (%s has none)", split, labels_file, json_file)
        elif require_labels:
            raise DataError(f"no meme of the {split} split has labels, and no gold file {os.path.basename(json_file)} "
                            f"is at the corpus root", file=json_file)
        else:
            log.warning("%s split: %s has no labels and no gold file was found; read without labels "
                        "(predictions only, no scores)", split, json_file)
    folder = _image_folder(json_file, [e.get("image") for e in entries if isinstance(e, dict)
                                       and isinstance(e.get("image"), str)][:200])

    columns = {k: [] for k in ("row", "id", "text", "image_name", "image_path", "labels")}
    seen = {}
    for row, entry in enumerate(entries, start=1):
        meme_id = _meme_id(entry, json_file, row)
        where = f"id {meme_id!r}: "
        if meme_id in seen:
            raise DataError(
                f"{where}duplicate id (first at row {seen[meme_id]})", file=json_file, row=row, column="id"
            )
        seen[meme_id] = row
        for key in REQUIRED_KEYS[1:]:
            if key not in entry and not (key == "labels" and unlabelled):
                raise DataError(f"{where}missing key {key!r}", file=json_file, row=row, column=key)
        if unlabelled:
            labels = gold[meme_id] if gold is not None else None
        else:
            labels = list(check_label_list(entry["labels"], where, json_file, row))
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
        columns["labels"].append(labels)
    frame = pd.DataFrame(columns)
    report = DuplicateReport(policy=duplicates)
    if labels_file is not None:
        frame, report = apply_duplicate_rule(frame, "image_name", ["labels"], duplicates, json_file,
                                             file_column="image")
    return SemEval21Task6Data(frame=frame, split=split, json_file=json_file, labels_file=labels_file,
                              duplicates=report)


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
    the real corpus. The whole folder appears at once (`io.atomic_output_dir`).

    The folder is written with `io.atomic_output_dir`: an existing `out_dir`
    is replaced only if memotion-tf wrote it (its `.memotion-tf` marker) and
    it holds nothing else; a file, or a folder holding anything memotion-tf
    did not write, is refused with `io.OutputError` before anything is written.
    """
    if len(sizes) != len(SPLITS) or any(int(n) < 0 for n in sizes):
        raise ValueError(f"sizes must be three non-negative counts (train, dev, test), got {sizes!r}")
    rng = np.random.default_rng(seed)
    total = int(sum(sizes))
    ids = rng.permutation(np.arange(1, total + 1) + 100).tolist()
    start = 0
    with atomic_output_dir(out_dir, purpose="synthetic semeval21_task6 data set") as tmp:
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
