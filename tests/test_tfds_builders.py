"""TFDS builders: each yields exactly the records its reader yields, split by
split; `read_from_tfds` gives back the reader's object; a reproduction that
reads through TFDS gets the same data as one that reads the files."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow_datasets as tfds

from memotion_tf.config import ExperimentConfig
from memotion_tf.datasets import danmu, mami, memotion7k, semeval21_task6, tfds_builders
from memotion_tf.papers.memotion import prepare_data


@pytest.fixture(scope="module")
def manual_dirs(tmp_path_factory):
    """Tiny synthetic copies in the official layouts (Memotion with 2 missing
    and 2 corrupt images; SemEval with JPEG bytes in some .png files)."""
    root = tmp_path_factory.mktemp("manual")
    semeval = semeval21_task6.write_synthetic_semeval21_task6(root / "semeval21_task6", sizes=(10, 5, 5), seed=3)
    # The writer sorts each meme's techniques; unsort them, so that keeping the file's order is tested.
    path = semeval21_task6.split_file(semeval, "train")
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    for entry in entries:
        entry["labels"].reverse()
    assert any(len(entry["labels"]) > 1 for entry in entries)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(entries, f, ensure_ascii=False)
    return {
        "memotion7k": memotion7k.write_synthetic_memotion7k(root / "memotion7k", size=30, seed=3),
        "mami": mami.write_synthetic_mami(root / "mami", size=20, test_size=6, seed=3),
        "semeval21_task6": semeval,
        "danmu": danmu.write_synthetic_danmu(root / "danmu", size=40, seed=3),
    }


def direct_reads(dataset, manual_dir, **args):
    """{split: the reader's object}, read from the files."""
    if dataset == "memotion7k":
        return {"train": memotion7k.read_memotion7k(manual_dir, **args)}
    if dataset == "mami":
        return {split: mami.read_mami(manual_dir, split=split, **args) for split in mami.SPLITS}
    if dataset == "semeval21_task6":
        return {split: semeval21_task6.read_semeval21_task6(manual_dir, split=split)
                for split in semeval21_task6.SPLITS}
    if args.get("form") == "processed":
        return danmu.read_danmu_processed(manual_dir)
    return {"train": danmu.read_danmu_raw(manual_dir, level=args.get("level", "category"))}


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def assert_example_matches(example, row, features):
    """One TFDS example against one row of the reader's frame."""
    for column, value in row.items():
        if column == "image_path":
            found = os.path.isfile(value)
            assert bool(example["image_found"]) == found, value
            assert example["image"] == (file_bytes(value) if found else b""), value
        elif column == "labels" and isinstance(value, list):  # SemEval: technique names
            assert [features["labels"].feature.int2str(i) for i in example["labels"]] == value
        elif column in example:
            got = example[column]
            assert (got.decode("utf-8") if isinstance(got, bytes) else int(got)) == value, column
        else:  # one label column of Memotion task B/C or MAMI task B
            assert int(example["labels"][column]) == value, column


CASES = [
    ("memotion7k", {"task": "A"}, "task_a"),
    ("memotion7k", {"task": "C"}, "task_c"),
    ("memotion7k", {"task": "B", "text_field": "text_ocr"}, None),
    ("mami", {"task": "A"}, "task_a"),
    ("mami", {"task": "B"}, "task_b"),
    ("semeval21_task6", {}, None),
    ("danmu", {"level": "main"}, "raw_main"),
    ("danmu", {"level": "six"}, "raw_six"),
    ("danmu", {"form": "processed"}, "processed"),
]


@pytest.mark.parametrize("dataset, args, config", CASES,
                         ids=["-".join([d, *(f"{k}={v}" for k, v in args.items())]) for d, args, _ in CASES])
def test_builder_yields_the_readers_records(dataset, args, config, manual_dirs, tmp_path):
    manual_dir = manual_dirs[dataset]
    expected = direct_reads(dataset, manual_dir, **args)
    builder = tfds_builders.get_builder(dataset, str(tmp_path / "tfds"), **args)
    name = f"{dataset}/{config}" if config else dataset
    if config is None and dataset != "semeval21_task6":
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
        splits = {s: builder.as_dataset(split=s, shuffle_files=False) for s in builder.info.splits}
    else:
        # The documented route: tfds.load by name, the builders registered by the import.
        splits = tfds.load(name, split=None, data_dir=str(tmp_path / "tfds"), download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir=str(manual_dir))})
    assert sorted(splits) == sorted(expected)
    for split, data in expected.items():
        examples = list(tfds.as_numpy(splits[split]))
        rows = data.frame.to_dict("records")
        assert len(examples) == len(rows) > 0, split
        for i, (example, row) in enumerate(zip(examples, rows)):
            assert_example_matches(example, row, builder.info.features)
            if getattr(data, "scores", None) is not None:
                np.testing.assert_array_equal(example["scores"], data.scores[i])
        assert set(examples[0]) - {"image", "image_found", "scores", "labels"} <= set(data.frame.columns)

        # Back to the reader's object: same frame, fields and images; only image_path differs.
        back = tfds_builders.read_from_tfds(dataset, manual_dir, split, tfds_data_dir=str(tmp_path / "tfds"),
                                            image_dir=str(tmp_path / "images"), **args)
        assert type(back) is type(data)
        keep = [c for c in data.frame.columns if c != "image_path"]
        pd.testing.assert_frame_equal(back.frame[keep], data.frame[keep])
        assert list(back.frame.columns) == list(data.frame.columns)
        if "image_path" in data.frame:
            for ours, theirs in zip(back.frame["image_path"], data.frame["image_path"]):
                assert os.path.isfile(ours) == os.path.isfile(theirs)
                if os.path.isfile(theirs):
                    assert file_bytes(ours) == file_bytes(theirs)
        for field in ("task", "split", "class_names", "level", "dropped"):
            assert getattr(back, field, None) == getattr(data, field, None), field
        if getattr(data, "scores", None) is not None:
            np.testing.assert_array_equal(back.scores, data.scores)


def test_shards_keep_file_order_and_every_row(manual_dirs, tmp_path):
    builder = tfds_builders.get_builder("memotion7k", str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(manual_dirs["memotion7k"]), num_shards=3))
    shards = sorted(n for n in os.listdir(builder.data_dir) if ".tfrecord-" in n)
    assert shards == [f"memotion7k-train.tfrecord-0000{i}-of-00003" for i in range(3)]
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert [int(e["row"]) for e in examples] == list(range(1, 31))
    # The synthetic copy has 2 missing and 2 corrupt images: their rows are kept, for the image check to skip.
    assert sum(not e["image_found"] for e in examples) == 2
    assert all(e["image"] == b"" for e in examples if not e["image_found"])


def test_all_four_names_are_registered():
    for name, cls in tfds_builders.BUILDERS.items():
        assert tfds.builder_cls(name) is cls
    assert sorted(tfds_builders.BUILDERS) == ["danmu", "mami", "memotion7k", "semeval21_task6"]


def test_a_prepared_copy_follows_its_manual_dir(tmp_path):
    first = memotion7k.write_synthetic_memotion7k(tmp_path / "first", size=12, seed=0, missing_images=0,
                                                  corrupt_images=0)
    second = memotion7k.write_synthetic_memotion7k(tmp_path / "second", size=14, seed=1, missing_images=0,
                                                   corrupt_images=0)
    tfds_dir = str(tmp_path / "tfds")
    texts = lambda data: list(data.frame["text"])  # noqa: E731
    assert texts(tfds_builders.read_from_tfds("memotion7k", first, tfds_data_dir=tfds_dir)) == texts(
        memotion7k.read_memotion7k(first))
    # Other files in the manual dir: prepared again from them.
    assert texts(tfds_builders.read_from_tfds("memotion7k", second, tfds_data_dir=tfds_dir)) == texts(
        memotion7k.read_memotion7k(second))
    # No manual dir here (e.g. only the TFRecords were copied): the prepared copy is used as it is.
    again = tfds_builders.read_from_tfds("memotion7k", tmp_path / "absent", tfds_data_dir=tfds_dir)
    assert texts(again) == texts(memotion7k.read_memotion7k(second))


def test_reproduction_reads_the_same_data_through_tfds(manual_dirs, tmp_path):
    config = ExperimentConfig(dataset="memotion7k", task="A", val_fraction=0.25)
    direct = prepare_data(config, str(manual_dirs["memotion7k"]), progress=False)
    through = prepare_data(config.replace(data_source="tfds", tfds_data_dir=str(tmp_path)),
                           str(manual_dirs["memotion7k"]), progress=False)
    keep = [c for c in direct.frame.columns if c != "image_path"]
    pd.testing.assert_frame_equal(through.frame[keep], direct.frame[keep])
    assert through.class_names == direct.class_names
    for (train, val), (train_direct, val_direct) in zip(through.folds, direct.folds):
        np.testing.assert_array_equal(train, train_direct)
        np.testing.assert_array_equal(val, val_direct)
    # The same 4 images skipped for the same reasons.
    skipped = [(row, reason) for row, _, reason in through.skip_report.skipped]
    assert skipped == [(row, reason) for row, _, reason in direct.skip_report.skipped]
    assert len(skipped) == 4
    for ours, theirs in zip(through.frame["image_path"], direct.frame["image_path"]):
        assert file_bytes(ours) == file_bytes(theirs)


def assert_same_frames(through, direct, tfds_dir):
    # The images really came out of the prepared TFDS copy.
    assert all(path.startswith(str(tfds_dir)) for path in through["image_path"])
    keep = [c for c in direct.columns if c != "image_path"]
    pd.testing.assert_frame_equal(through[keep], direct[keep])
    for ours, theirs in zip(through["image_path"], direct["image_path"]):
        assert file_bytes(ours) == file_bytes(theirs)


def test_1213li_reads_the_same_corpus_through_tfds(manual_dirs, tmp_path):
    from memotion_tf.papers import team_1213li

    config = ExperimentConfig(dataset="semeval21_task6", task="3")
    direct = team_1213li.read_corpus(str(manual_dirs["semeval21_task6"]), progress=False, config=config)
    through = team_1213li.read_corpus(str(manual_dirs["semeval21_task6"]), progress=False,
                                      config=config.replace(data_source="tfds", tfds_data_dir=str(tmp_path)))
    assert list(through) == list(direct) == ["train", "dev", "test"]
    for split in direct:
        assert_same_frames(through[split].frame, direct[split].frame, tmp_path)
        np.testing.assert_array_equal(through[split].targets, direct[split].targets)
        assert through[split].skipped == direct[split].skipped


def test_mami_ssl_reads_the_same_splits_through_tfds(manual_dirs, tmp_path):
    from memotion_tf.papers import mami_ssl

    config = ExperimentConfig(dataset="mami", task="B", text_field=mami.TEXT_COLUMN)
    direct, direct_reports = mami_ssl.read_splits(config, str(manual_dirs["mami"]))
    through, reports = mami_ssl.read_splits(config.replace(data_source="tfds", tfds_data_dir=str(tmp_path)),
                                            str(manual_dirs["mami"]))
    for split in ("train", "test"):
        assert_same_frames(through[split], direct[split], tmp_path)
        assert len(reports[split].skipped) == len(direct_reports[split].skipped)


def test_unknown_data_source_is_named():
    from memotion_tf.config import ConfigError

    with pytest.raises(ConfigError, match="data_source"):
        prepare_data(ExperimentConfig(data_source="parquet"), "unused")
