"""`memotion-tf data check` for the datasets with images: read every split the
way training does and say what training would get.

For each split: how many memes passed the reader, where the labels came from,
how many texts are empty, which images are listed twice (with conflicting or
the same labels; see `common.DuplicateReport`), which images would be skipped
and why (`common.check_images`: missing, not a regular file, over the size
limits, unreadable), and the class or technique counts. A problem the reader
refuses is a `DataError` (one line, naming file, row and column), as for
training.

Example:

    from memotion_tf.datasets.check import check_dataset
    print(check_dataset("semeval21_task6", "path/to/corpus"))
"""

import os

from memotion_tf.datasets import mami, memotion7k, semeval21_task6
from memotion_tf.datasets.common import check_duplicate_policy, check_images

# The text column each single-label dataset's reproductions read.
TEXT_FIELDS = {"memotion7k": "text_corrected", "mami": mami.TEXT_COLUMN}
DATASETS = ("memotion7k", "mami", "semeval21_task6")


def _empty_texts(frame):
    return int((frame["text"].astype(str).str.strip() == "").sum())


def _image_lines(frame, images_required, progress, max_pixels, max_bytes):
    if len(frame) == 0:
        return ["0 memes left to check images for"]
    _, report = check_images(frame, progress=progress, required=images_required,
                             max_pixels=max_pixels, max_bytes=max_bytes)
    return [report.summary()]


def _single_label(dataset, data, text_field, images_required, progress, max_pixels, max_bytes, where):
    frame = data.frame
    lines = [f"{where}: {len(frame)} rows, labels valid for task {data.task}",
             f"duplicates: {data.duplicates.summary()}"]
    lines += _image_lines(frame, images_required, progress, max_pixels, max_bytes)
    lines.append(f"{_empty_texts(frame)} memes have an empty `{text_field}`")
    if "label" in frame:
        counts = frame["label"].value_counts().sort_index()
        lines.append("class counts: " + ", ".join(f"{data.class_names[i]} {n}" for i, n in counts.items()))
    else:
        lines.append("positive counts: " + ", ".join(f"{c} {int(frame[c].astype(bool).sum())}"
                                                     for c in data.class_names))
    return lines


def check_memotion7k(data_dir, task="A", duplicates="keep", images_required=True, progress=True,
                     max_pixels=None, max_bytes=None):
    text_field = TEXT_FIELDS["memotion7k"]
    data = memotion7k.read_memotion7k(data_dir, task=task, text_field=text_field, duplicates=duplicates)
    return "\n".join(_single_label("memotion7k", data, text_field, images_required, progress, max_pixels,
                                   max_bytes, data.labels_file))


def check_mami(data_dir, task="A", duplicates="keep", images_required=True, progress=True,
               max_pixels=None, max_bytes=None):
    """TRAINING, and the test split when `test/Test.csv` is there."""
    text_field = TEXT_FIELDS["mami"]
    lines = []
    for split in mami.SPLITS:
        if split == "test" and not os.path.exists(os.path.join(data_dir, mami.TEST_DIR, mami.TEST_FILE)):
            lines.append(f"{os.path.join(data_dir, mami.TEST_DIR, mami.TEST_FILE)}: not there; test split not checked")
            continue
        data = mami.read_mami(data_dir, task=task, text_field=text_field, split=split, duplicates=duplicates)
        where = data.texts_file if data.labels_file == data.texts_file else f"{data.texts_file} + {data.labels_file}"
        lines += _single_label("mami", data, text_field, images_required, progress, max_pixels, max_bytes, where)
    return "\n".join(lines)


def check_semeval21_task6(data_dir, duplicates="keep", images_required=True, progress=True,
                          max_pixels=None, max_bytes=None):
    """Every split: where its labels came from, technique counts, empty texts,
    duplicates and unusable images."""
    lines = []
    for split in semeval21_task6.SPLITS:
        data = semeval21_task6.read_semeval21_task6(data_dir, split, duplicates=duplicates)
        frame = data.frame
        if data.labelled:
            counts = data.targets.sum(0)
            source = "" if data.labels_file == data.json_file else f" (labels from {data.labels_file})"
            lines.append(f"{data.json_file}: {len(frame)} memes{source}, every technique name valid, "
                         f"{int(counts.sum())} labels ({counts.sum() / max(len(frame), 1):.2f} per meme)")
        else:
            lines.append(f"{data.json_file}: {len(frame)} memes, no gold labels found: this split can be "
                         "predicted, not scored")
        lines.append(f"{_empty_texts(frame)} memes have an empty text")
        lines.append(f"duplicates: {data.duplicates.summary()}")
        lines += _image_lines(frame, images_required, progress, max_pixels, max_bytes)
        if data.labelled:
            lines.append("technique counts: " + ", ".join(
                f"{n} {int(c)}" for n, c in zip(semeval21_task6.TECHNIQUES, counts)))
    return "\n".join(lines)


def check_dataset(dataset, data_dir, task="A", duplicates="keep", images_required=True, progress=True,
                  max_pixels=None, max_bytes=None):
    """The report `memotion-tf data check` prints for `dataset` (one of
    `DATASETS`; danmu has its own check in the BiliMemeNet reproduction).

    Args:
        dataset: "memotion7k", "mami" or "semeval21_task6".
        data_dir: the dataset folder.
        task: the task whose labels are checked (Memotion 7k, MAMI).
        duplicates: the duplicate rule (`common.DuplicateReport`); "keep"
            (default) reports conflicts without failing, "error" fails on
            the first, as training does by default.
        images_required: False for a text-only model: memes without a usable
            image are counted as kept, not skipped.
        max_pixels, max_bytes: image limits (None: the defaults of
            `preprocessing.image`).

    Raises DataError (one line) for anything the reader refuses.
    """
    check_duplicate_policy(duplicates)
    data_dir = os.fspath(data_dir)
    options = dict(duplicates=duplicates, images_required=images_required, progress=progress,
                   max_pixels=max_pixels, max_bytes=max_bytes)
    if dataset == "memotion7k":
        return check_memotion7k(data_dir, task, **options)
    if dataset == "mami":
        return check_mami(data_dir, task, **options)
    if dataset == "semeval21_task6":
        return check_semeval21_task6(data_dir, **options)
    raise ValueError(f"no image dataset {dataset!r}; expected one of {DATASETS}")
