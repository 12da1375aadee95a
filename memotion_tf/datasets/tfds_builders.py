"""TensorFlow Datasets builders for the four datasets, and the way back to the
readers' own objects.

    official layout (the TFDS manual dir) -> the project's reader -> examples
    -> sharded TFRecords -> `read_from_tfds` -> the reader's dataclass again

Importing this module registers `memotion7k`, `mami`, `semeval21_task6` and
`danmu` with TFDS (none of these names is in the TFDS catalog):

    import tensorflow_datasets as tfds
    from memotion_tf.datasets import tfds_builders  # noqa: F401 (registers the builders)

    ds = tfds.load("memotion7k", split="train", data_dir="~/tfds",
                   download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(
                       manual_dir="~/data/memotion_dataset_7k")})

Each builder reads the manual dir through the dataset's own reader
(`datasets.memotion7k`, `mami`, `semeval21_task6`, `danmu`), so validation,
label mappings and error messages are the readers'; no builder parses a file
itself. There is one builder config per reader setting that changes the
records (task, text column, label level, data form) and one TFDS split per
split the reader exposes.

Choices:
- Images are stored as the file's original bytes (`image`, a tf.string
  scalar), not as `tfds.features.Image`: some files named `.png` are JPEG,
  others are `.bmp`, grayscale or corrupt, and `Image` would re-encode or
  reject them. Decode by content (`tf.io.decode_image`), as the rest of the
  project does. A file the reader names but that does not exist has
  `image_found = False` and empty bytes. No row is dropped: the image check
  that runs before training (`common.check_images`) skips the same rows, for
  the same reasons, whether the records came from the files or from TFDS.
- Labels mirror the reader's frame: `label`, one ClassLabel, for single-label
  tasks; `labels`, a dict of one ClassLabel per column, where the reader gives
  one column per label (Memotion tasks B and C, MAMI task B); `labels`, a
  Sequence of ClassLabel, where the reader gives a list of names (SemEval
  techniques).
- Every example carries the reader's `row` and is keyed by it, and shuffling
  is disabled, so TFDS returns each split in file order: splits drawn by
  position (the UoR hold-out, the CN-HIT folds) come out the same.
- Bullet chats are stored as released; jieba segmentation stays a step of
  the BiliMemeNet reproduction.
- The builders read every row, conflicting duplicates included
  (`duplicates="keep"`), and `read_from_tfds` applies the caller's duplicate
  rule, so a prepared copy serves every rule. A SemEval split read without
  gold labels is stored with empty label lists and `labelled: False` in the
  metadata, and comes back with `labels` None, as the reader gives it.
- Image bytes are read as the image check reads them (`common.read_image_file`):
  a FIFO, a device or a file over `MAX_IMAGE_BYTES` is stored empty, never read.

`read_from_tfds` turns a prepared split back into the reader's dataclass, so
a reproduction runs unchanged on either source (`data_source = "tfds"` in a
config); `prepare` re-prepares a copy whose label files no longer match the
manual dir.
"""

import dataclasses
import hashlib
import logging
import os
import re

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_datasets as tfds

from memotion_tf.datasets import danmu, mami, memotion7k, semeval21_task6
from memotion_tf.datasets.common import apply_duplicate_rule, check_duplicate_policy, read_image_file
from memotion_tf.io import atomic_write_bytes, file_sha256

log = logging.getLogger("memotion_tf")

VERSION = tfds.core.Version("1.0.0")
RELEASE_NOTES = {
    "1.0.0": "First release: the records of the project's readers, with images as the files' bytes.",
}


def _image_features():
    return {
        "image_name": tfds.features.Text(doc="The image's file name, as the dataset lists it."),
        "image": tfds.features.Scalar(
            tf.string, doc="The image file's bytes, undecoded: decode by content (some .png files are JPEG)."),
        "image_found": tfds.features.Scalar(
            tf.bool, doc="False when the named file does not exist; `image` is then empty."),
    }


def _read_image(path):
    """(bytes, found) of an image file the reader resolved; a file that is
    not a regular one or over the size limit is found, with no bytes."""
    data, problem = read_image_file(path)
    return data, problem != "missing"


def _text(value):
    return value.decode("utf-8")


def _label_columns(example):
    """The reader's label column(s) of a single- or per-column-label example:
    `label`, or one column per entry of the `labels` dict."""
    if "label" in example:
        return {"label": int(example["label"])}
    return {column: int(value) for column, value in example["labels"].items()}


def _config_name(fields):
    """A config name from its field values, e.g. `task_a_text_field_text_ocr`."""
    return re.sub(r"\W+", "_", "_".join(f"{k}_{v}" for k, v in fields.items())).strip("_").lower()


class _ReaderBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """What the four builders share: read the manual dir with the reader,
    record which files the records came from, write one example per frame row.

    A subclass says which reader to call (`_read`), what the examples look like
    (`_features`), how a frame row becomes an example (`_encode`) and back
    (`_decode`), and which reader dataclass to rebuild (`_wrap`).
    """

    VERSION = VERSION
    RELEASE_NOTES = RELEASE_NOTES
    DESCRIPTION = ""
    HOMEPAGE = None

    def _info(self):
        config = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"{self.DESCRIPTION} {config.description}" if config and config.description
            else self.DESCRIPTION,
            features=tfds.features.FeaturesDict(self._features()),
            homepage=self.HOMEPAGE,
            disable_shuffling=True,
            # manual_dir, source_files (relative path -> sha256) and
            # per-split details the reader's dataclass carries.
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        manual_dir = os.fspath(dl_manager.manual_dir)
        splits = self._read(manual_dir)
        files = sorted({os.path.abspath(f) for data in splits.values() for f in self._source_files(data)})
        self.info.metadata.update(
            manual_dir=os.path.realpath(manual_dir),
            source_files={os.path.relpath(f, manual_dir): file_sha256(f) for f in files},
            **self._extra_metadata(splits),
        )
        return {split: self._generate_examples(data) for split, data in splits.items()}

    def _generate_examples(self, data):
        for i, record in enumerate(data.frame.to_dict("records")):
            example = self._encode(data, i, record)
            if "image_path" in record:
                example["image"], example["image_found"] = _read_image(record["image_path"])
            yield int(record["row"]), example

    def _extra_metadata(self, splits):
        return {}

    @classmethod
    def _find_config(cls, **fields):
        """The registered config with these field values, else a new one
        named after them (e.g. Memotion task A on `text_ocr`)."""
        for config in cls.BUILDER_CONFIGS:
            if all(getattr(config, k) == v for k, v in fields.items()):
                return config
        return cls.builder_config_cls(name=_config_name(fields), **fields)


# --------------------------------------------------------------------------
# Memotion 7k.
# --------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Memotion7kConfig(tfds.core.BuilderConfig):
    """`read_memotion7k`'s arguments: the task and the text column."""

    task: str = "A"
    text_field: str = "text_corrected"


class Memotion7k(_ReaderBuilder):
    """Memotion 7k (SemEval-2020 Task 8) as `read_memotion7k` reads it: one
    `train` split (the 7k download is the training set)."""

    name = "memotion7k"
    BUILDER_CONFIGS = [
        Memotion7kConfig(name="task_a", task="A", description="3-class sentiment (negative, neutral, positive)."),
        Memotion7kConfig(name="task_b", task="B", description="humour, sarcasm, offensive, motivational as 0/1."),
        Memotion7kConfig(name="task_c", task="C",
                         description="The levels of humour, sarcasm, offensive, motivational."),
    ]
    DESCRIPTION = "Memotion 7k memes with their OCR text and labels, read by memotion_tf.datasets.memotion7k."
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download "memotion-dataset-7k" from Kaggle and pass its folder
    `memotion_dataset_7k/` as the manual dir. It must hold:

        labels.csv            image_name, text_ocr, text_corrected, humour, sarcasm,
                              offensive, motivational, overall_sentiment
        images/<image_name>   the memes (extensions vary)

    Task A needs only `overall_sentiment` among the label columns.
    `labels_pd_pickle` is never read: unpickling a downloaded file can run code.
    """

    @classmethod
    def config_for(cls, task="A", text_field="text_corrected"):
        memotion7k.label_columns(task)  # raises for an unknown task
        return cls._find_config(task=task, text_field=text_field)

    def _features(self):
        task = self.builder_config.task
        features = {"row": tfds.features.Scalar(np.int64, doc="1-based data row of labels.csv."),
                    **_image_features(), "text": tfds.features.Text()}
        if task == "A":
            features["label"] = tfds.features.ClassLabel(names=memotion7k.TASK_A_CLASSES)
        else:
            features["labels"] = tfds.features.FeaturesDict({
                column: tfds.features.ClassLabel(num_classes=2) if task == "B"
                else tfds.features.ClassLabel(names=memotion7k.LEVELS[column])
                for column in memotion7k.TASK_COLUMNS[task]
            })
        return features

    def _read(self, manual_dir):
        config = self.builder_config
        return {"train": memotion7k.read_memotion7k(manual_dir, task=config.task, text_field=config.text_field,
                                                    duplicates="keep")}

    def _source_files(self, data):
        return [data.labels_file]

    def _encode(self, data, i, record):
        example = {"row": record["row"], "image_name": record["image_name"], "text": record["text"]}
        if self.builder_config.task == "A":
            example["label"] = record["label"]
        else:
            example["labels"] = {c: record[c] for c in memotion7k.TASK_COLUMNS[self.builder_config.task]}
        return example

    def _columns(self):
        return ["row", "image_name", "image_path", "text", *memotion7k.label_columns(self.builder_config.task)]

    def _decode(self, example):
        record = {"row": int(example["row"]), "image_name": _text(example["image_name"]),
                  "text": _text(example["text"])}
        return {**record, **_label_columns(example)}

    def _wrap(self, frame, split, source, metadata):
        task = self.builder_config.task
        class_names = memotion7k.TASK_A_CLASSES if task == "A" else tuple(memotion7k.TASK_COLUMNS[task])
        return memotion7k.MemotionData(frame=frame, task=task, class_names=class_names, labels_file=source)


# --------------------------------------------------------------------------
# MAMI.
# --------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class MAMIConfig(tfds.core.BuilderConfig):
    """`read_mami`'s arguments: the task and the transcription column."""

    task: str = "A"
    text_field: str = mami.TEXT_COLUMN


class MAMI(_ReaderBuilder):
    """MAMI (SemEval-2022 Task 5) as `read_mami` reads it: `train` (all of
    TRAINING; `mami.split_mami` draws the paper's validation part) and `test`
    (Test.csv with the gold labels). `text` is cleaned, `raw_text` as released."""

    name = "mami"
    BUILDER_CONFIGS = [
        MAMIConfig(name="task_a", task="A", description="Binary misogyny."),
        MAMIConfig(name="task_b", task="B", description="shaming, stereotype, objectification, violence as 0/1."),
    ]
    DESCRIPTION = "MAMI memes with their transcriptions and labels, read by memotion_tf.datasets.mami."
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Request MAMI (SemEval-2022 Task 5) through the organisers' form and pass
    the folder that holds:

        TRAINING/training.csv   tab-separated; TRAINING/<file_name> images
        test/Test.csv           tab-separated; test/<file_name> images
        test/test_labels.txt    gold test labels (test_labels.txt beside test/ also works)
    """

    @classmethod
    def config_for(cls, task="A", text_field=mami.TEXT_COLUMN):
        mami.label_columns(task)  # raises for an unknown task
        return cls._find_config(task=task, text_field=text_field)

    def _features(self):
        features = {"row": tfds.features.Scalar(np.int64, doc="1-based data row of training.csv or Test.csv."),
                    **_image_features(),
                    "text": tfds.features.Text(doc="Cleaned as the paper does (`mami.clean_mami_text`)."),
                    "raw_text": tfds.features.Text(doc="The transcription as released.")}
        if self.builder_config.task == "A":
            features["label"] = tfds.features.ClassLabel(names=mami.CLASS_NAMES["A"])
        else:
            features["labels"] = tfds.features.FeaturesDict(
                {c: tfds.features.ClassLabel(num_classes=2) for c in mami.TASK_B_LABELS})
        return features

    def _read(self, manual_dir):
        config = self.builder_config
        return {split: mami.read_mami(manual_dir, task=config.task, text_field=config.text_field, split=split,
                                      duplicates="keep")
                for split in mami.SPLITS}

    def _source_files(self, data):
        return [data.labels_file, data.texts_file]

    def _encode(self, data, i, record):
        example = {k: record[k] for k in ("row", "image_name", "text", "raw_text")}
        if self.builder_config.task == "A":
            example["label"] = record["label"]
        else:
            example["labels"] = {c: record[c] for c in mami.TASK_B_LABELS}
        return example

    def _columns(self):
        task = self.builder_config.task
        return ["row", "image_name", "image_path", "text", "raw_text", *mami.label_columns(task)]

    def _decode(self, example):
        record = {"row": int(example["row"]), "image_name": _text(example["image_name"]),
                  "text": _text(example["text"]), "raw_text": _text(example["raw_text"])}
        return {**record, **_label_columns(example)}

    def _wrap(self, frame, split, source, metadata):
        task = self.builder_config.task
        return mami.MAMIData(frame=frame, task=task, split=split, class_names=mami.CLASS_NAMES[task],
                             labels_file=source, texts_file=source)


# --------------------------------------------------------------------------
# SemEval-2021 Task 6, subtask 3.
# --------------------------------------------------------------------------


class SemEval21Task6(_ReaderBuilder):
    """SemEval-2021 Task 6 subtask 3 as `read_semeval21_task6` reads it:
    `train`, `dev` and `test`, every meme with its list of techniques."""

    name = "semeval21_task6"
    DESCRIPTION = ("SemEval-2021 Task 6 subtask 3 memes with their text and persuasion techniques, "
                   "read by memotion_tf.datasets.semeval21_task6.")
    HOMEPAGE = "https://github.com/di-dimitrov/SEMEVAL-2021-task6-corpus"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download the subtask-3 folders of the corpus
    (github.com/di-dimitrov/SEMEVAL-2021-task6-corpus) and pass the folder that holds:

        training_set_task3/training_set_task3.txt          and its images
        dev_set_task3_labeled/dev_set_task3_labeled.txt    and its images
        test_set_task3/test_set_task3.txt                  and its images (with gold labels)
    """

    @classmethod
    def config_for(cls):
        return None

    def _features(self):
        return {"row": tfds.features.Scalar(np.int64, doc="1-based position in the split's JSON array."),
                "id": tfds.features.Text(),
                "text": tfds.features.Text(doc='Sentences joined by "\\n\\n", as released.'),
                **_image_features(),
                "labels": tfds.features.Sequence(
                    tfds.features.ClassLabel(names=semeval21_task6.TECHNIQUES),
                    doc="The meme's techniques, in the file's order.")}

    def _read(self, manual_dir):
        return {split: semeval21_task6.read_semeval21_task6(manual_dir, split=split, duplicates="keep")
                for split in semeval21_task6.SPLITS}

    def _extra_metadata(self, splits):
        return {"labelled": {split: bool(data.labelled) for split, data in splits.items()}}

    def _source_files(self, data):
        return [data.json_file] + ([data.labels_file] if data.labels_file not in (None, data.json_file) else [])

    def _encode(self, data, i, record):
        example = {k: record[k] for k in ("row", "id", "text", "image_name")}
        return dict(example, labels=record["labels"] if record["labels"] is not None else [])

    def _columns(self):
        return ["row", "id", "text", "image_name", "image_path", "labels"]

    def _decode(self, example):
        return {"row": int(example["row"]), "id": _text(example["id"]), "text": _text(example["text"]),
                "image_name": _text(example["image_name"]),
                "labels": [semeval21_task6.TECHNIQUES[i] for i in example["labels"]]}

    def _wrap(self, frame, split, source, metadata):
        labelled = bool(metadata.get("labelled", {}).get(split, True))
        if not labelled:
            frame["labels"] = pd.Series([None] * len(frame), dtype=object)
        return semeval21_task6.SemEval21Task6Data(frame=frame, split=split, json_file=source,
                                                  labels_file=source if labelled else None)


# --------------------------------------------------------------------------
# Bilibili bullet chats.
# --------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class DanmuConfig(tfds.core.BuilderConfig):
    """Which released form to read, and at which label level (raw table only)."""

    form: str = "raw"
    level: str = "category"


class Danmu(_ReaderBuilder):
    """Bilibili bullet chats as `read_danmu_raw` (configs `raw_*`: one `train`
    split of distinct chats, labelled at the config's level) or
    `read_danmu_processed` (config `processed`: `train`, `val`, `test`) reads them."""

    name = "danmu"
    BUILDER_CONFIGS = [
        DanmuConfig(name="raw_category", form="raw", level="category",
                    description="Raw table, the 21 categories, with per-category frequencies."),
        DanmuConfig(name="raw_main", form="raw", level="main",
                    description="Raw table, the 5 main categories, with per-category frequencies."),
        DanmuConfig(name="raw_six", form="raw", level="six", description="Raw table, the 6-class scheme."),
        DanmuConfig(name="processed", form="processed", level="six",
                    description="The processed 6-class train/val/test split."),
    ]
    DESCRIPTION = "Bilibili bullet chats with their category labels, read by memotion_tf.datasets.danmu."
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Get the bullet-chat data from the BiliMemeNet authors' public repository and
    pass the folder that holds the raw table `danmu.csv` (configs raw_category,
    raw_main, raw_six) and/or the processed split `train.csv`, `val.csv`,
    `test.csv` (config processed).
    """

    @classmethod
    def config_for(cls, level=None, form="raw"):
        if form not in ("raw", "processed"):
            raise ValueError(f"unknown danmu form {form!r}; expected 'raw' or 'processed'")
        if form == "processed":
            if level not in (None, "six"):
                raise ValueError(f"the processed danmu split has only the 'six' level, not {level!r}")
            level = "six"
        level = level or "category"
        danmu.class_names(level)  # raises for an unknown level
        return cls._find_config(form=form, level=level)

    def _has_scores(self):
        return self.builder_config.form == "raw" and self.builder_config.level in ("category", "main")

    def _features(self):
        names = danmu.class_names(self.builder_config.level)
        features = {"row": tfds.features.Scalar(np.int64, doc="1-based data row (raw table: the chat's first)."),
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=names)}
        if self._has_scores():
            features["scores"] = tfds.features.Tensor(
                shape=(len(names),), dtype=np.int64, doc="The chat's summed frequency under each class.")
        return features

    def _read(self, manual_dir):
        if self.builder_config.form == "processed":
            return danmu.read_danmu_processed(manual_dir)
        return {"train": danmu.read_danmu_raw(manual_dir, level=self.builder_config.level)}

    def _extra_metadata(self, splits):
        return {"dropped": {split: int(data.dropped) for split, data in splits.items()}}

    def _source_files(self, data):
        return [data.source]

    def _encode(self, data, i, record):
        example = {k: record[k] for k in ("row", "text", "label")}
        if self._has_scores():
            example["scores"] = data.scores[i]
        return example

    def _columns(self):
        return ["row", "text", "label"]

    def _decode(self, example):
        record = {"row": int(example["row"]), "text": _text(example["text"]), "label": int(example["label"])}
        if "scores" in example:
            record["scores"] = example["scores"]
        return record

    def _wrap(self, frame, split, source, metadata):
        level = self.builder_config.level
        scores = None
        if self._has_scores():
            names = danmu.class_names(level)
            scores = (np.stack(frame.pop("scores").to_list()) if len(frame)
                      else np.zeros((0, len(names)), np.int64))
        return danmu.DanmuData(frame=frame, class_names=danmu.class_names(level), level=level, source=source,
                               scores=scores, dropped=int(metadata.get("dropped", {}).get(split, 0)))


BUILDERS = {b.name: b for b in (Memotion7k, MAMI, SemEval21Task6, Danmu)}


# --------------------------------------------------------------------------
# Reading back: the reader's dataclass, from TFDS.
# --------------------------------------------------------------------------


def get_builder(dataset, tfds_data_dir=None, **reader_args):
    """The TFDS builder of `dataset` whose config matches the reader's
    arguments, e.g. `get_builder("memotion7k", task="B")` or
    `get_builder("danmu", form="processed")`."""
    if dataset not in BUILDERS:
        raise ValueError(f"no TFDS builder for {dataset!r}; expected one of {sorted(BUILDERS)}")
    cls = BUILDERS[dataset]
    return cls(config=cls.config_for(**reader_args), data_dir=tfds_data_dir)


def _stale(builder, manual_dir):
    """Why the prepared copy no longer matches the files in `manual_dir`, or
    None. Compares the files the reader read (CSV / JSON), not the images."""
    for relative, digest in (builder.info.metadata or {}).get("source_files", {}).items():
        path = os.path.join(manual_dir, relative)
        if not os.path.isfile(path):
            return f"{relative} is not in {manual_dir}"
        if file_sha256(path) != digest:
            return f"{relative} has changed"
    return None


def prepare(dataset, manual_dir=None, tfds_data_dir=None, **reader_args):
    """Prepare `dataset` in `tfds_data_dir` (TFDS's default when None:
    $TFDS_DATA_DIR or ~/tensorflow_datasets) and return its builder.

    A prepared copy is reused, unless `manual_dir` exists and the label or text
    files the copy was made from differ from the ones in it (another copy of
    the data, an edited CSV, the synthetic data of another size): then it is
    prepared again from `manual_dir`. Without `manual_dir`, or when it does not
    exist (e.g. only the TFRecords were copied to this machine), a prepared
    copy is used as it is.
    """
    builder = get_builder(dataset, tfds_data_dir, **reader_args)
    manual_dir = os.path.expanduser(os.fspath(manual_dir)) if manual_dir else None
    config = tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False)
    if builder.is_prepared() and manual_dir and os.path.isdir(manual_dir):
        reason = _stale(builder, manual_dir)
        if reason:
            log.warning("%s: the copy prepared in %s was made from other files (%s); preparing it again "
                        "from %s", builder.info.full_name, builder.data_dir, reason, manual_dir)
            config = dataclasses.replace(config, download_mode=tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS)
    builder.download_and_prepare(download_config=config)
    return builder


def _materialise(image, found, name, row, image_dir):
    """A path holding `image`, named by its content, so a cached file is never
    stale. A missing image gets a path that does not exist, so the image
    check reports it missing, as it does for the files."""
    suffix = os.path.splitext(name)[1]
    if not found:
        return os.path.join(image_dir, "missing", f"{row}{suffix}")
    path = os.path.join(image_dir, hashlib.sha256(image).hexdigest() + suffix)
    if not (os.path.isfile(path) and os.path.getsize(path) == len(image)):
        atomic_write_bytes(path, image)
    return path


def read_from_tfds(dataset, manual_dir=None, split="train", *, tfds_data_dir=None, image_dir=None,
                   duplicates="error", **reader_args):
    """Read one split through TFDS as the dataset's reader reads it from files.

    Returns the reader's own dataclass (`MemotionData`, `MAMIData`,
    `SemEval21Task6Data`, `DanmuData`) with the same frame, row for row and
    column for column, so a reproduction runs unchanged on either source.
    Only `image_path` differs: the readers hand on paths, so each image's bytes
    are written once to `image_dir` (default: `images/` inside the prepared
    dataset's folder, deleted with it) under a name taken from their content.
    The file fields of the dataclass (`labels_file`, `json_file`, `source`, ...)
    name the prepared dataset's folder.

    Args:
        dataset: `memotion7k`, `mami`, `semeval21_task6` or `danmu`.
        manual_dir: the dataset in its official layout (see `prepare`).
        split: a TFDS split of the builder (Memotion 7k and the raw danmu
            table have only `train`).
        tfds_data_dir: where TFDS keeps prepared datasets; None: its default.
        image_dir: where image files are written (datasets with images only).
        duplicates: the reader's duplicate rule ("error", "skip" or "keep";
            see `common.DuplicateReport`), applied to the prepared records.
        **reader_args: the reader's arguments that choose the builder config:
            `task`, `text_field` (Memotion 7k, MAMI); `level`, `form` (danmu).
    """
    check_duplicate_policy(duplicates)
    builder = prepare(dataset, manual_dir, tfds_data_dir, **reader_args)
    if split not in builder.info.splits:
        raise ValueError(f"{builder.info.full_name} has no split {split!r}; it has {sorted(builder.info.splits)}")
    if image_dir is None:
        image_dir = os.path.join(os.fspath(builder.data_dir), "images")
    records = []
    for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
        record = builder._decode(example)
        if "image" in example:
            record["image_path"] = _materialise(example["image"], bool(example["image_found"]),
                                                record["image_name"], record["row"], image_dir)
        records.append(record)
    columns = builder._columns()
    extra = [c for c in (records[0] if records else {}) if c not in columns]
    frame = pd.DataFrame(records, columns=columns + extra)
    data = builder._wrap(frame, split, os.fspath(builder.data_dir), builder.info.metadata or {})
    labels = _DUPLICATE_LABELS.get(dataset)
    if labels is not None and (dataset != "semeval21_task6" or data.labelled):
        data.frame, data.duplicates = apply_duplicate_rule(
            data.frame, "image_name", labels(builder), duplicates, os.fspath(builder.data_dir))
    return data


# Per dataset with images: the label columns the duplicate rule compares.
_DUPLICATE_LABELS = {
    "memotion7k": lambda builder: memotion7k.label_columns(builder.builder_config.task),
    "mami": lambda builder: mami.label_columns(builder.builder_config.task),
    "semeval21_task6": lambda builder: ["labels"],
}
