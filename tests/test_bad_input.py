"""Bad input to the dataset readers and `data check` (issue 14, items 4 and 5):
one named DataError line or a counted, reported skip, for all four datasets.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_bad_input.py -q
"""

import json
import os

import cv2
import numpy as np
import pandas as pd
import pytest

from memotion_tf.datasets import danmu, mami, memotion7k, semeval21_task6
from memotion_tf.datasets.check import check_dataset
from memotion_tf.datasets.common import DataError, check_images

LL, NC, SM = "Loaded Language", "Name calling/Labeling", "Smears"
MEMOTION_HEADER = ",image_name,text_ocr,text_corrected,overall_sentiment\n"
MAMI_HEADER = "\t".join(["file_name", *mami.LABEL_COLUMNS, mami.TEXT_COLUMN]) + "\n"
DANMU_HEADER = ",Bullet Chat,Frequency,Source Video Title,Category ID,Channel ID,Source Video View Count\n"


def _image(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 8, 3), 128, np.uint8))


def memotion(root, rows, header=MEMOTION_HEADER):
    """labels.csv with `rows` (image, sentiment, text) and their images."""
    os.makedirs(root / "images", exist_ok=True)
    lines = [f"{i},{name},{text.upper()},{text},{sentiment}\n" for i, (name, sentiment, text) in enumerate(rows)]
    for name, _, _ in rows:
        _image(root / "images" / name)
    (root / "labels.csv").write_text(header + "".join(lines), encoding="utf-8")
    return str(root)


def mami_training(root, rows, header=MAMI_HEADER):
    """TRAINING/training.csv with `rows` (file name, misogynous, text) and their images."""
    folder = root / "TRAINING"
    os.makedirs(folder, exist_ok=True)
    lines = [f"{name}\t{m}\t0\t0\t0\t0\t{text}\n" for name, m, text in rows]
    for name, _, _ in rows:
        _image(folder / name)
    (folder / "training.csv").write_text(header + "".join(lines), encoding="utf-8")
    return str(root)


def task6_split(root, entries, split="train", folder=None, raw=None):
    """A split file (or `raw` text) in the official layout, with every image it names."""
    folder_name, json_name = semeval21_task6.SPLITS[split]
    folder = root / (folder or folder_name)
    folder.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        _image(folder / entry["image"])
    (folder / json_name).write_text(raw if raw is not None else json.dumps(entries), encoding="utf-8")
    return folder / json_name


def meme(meme_id, labels=(LL,), text="A\n\nB", image=None):
    entry = {"id": meme_id, "text": text, "image": image or f"{meme_id}_image.png"}
    if labels is not None:
        entry["labels"] = list(labels)
    return entry


# --- Empty files: one line naming the file, in every reader ------------------------------------------

def _memotion_file(root, text):
    memotion(root, [])
    (root / "labels.csv").write_text(text)
    return lambda: memotion7k.read_memotion7k(str(root)), root / "labels.csv"


def _mami_file(root, text):
    mami_training(root, [])
    (root / "TRAINING" / "training.csv").write_text(text)
    return lambda: mami.read_mami(str(root)), root / "TRAINING" / "training.csv"


def _task6_file(root, text):
    path = task6_split(root, [], raw=text)
    return lambda: semeval21_task6.read_semeval21_task6(root, "train"), path


def _danmu_raw_file(root, text):
    (root / "danmu.csv").write_text(text)
    return lambda: danmu.read_danmu_raw(str(root)), root / "danmu.csv"


def _danmu_split_file(root, text):
    for split in danmu.SPLITS:
        (root / f"{split}.csv").write_text("text,label\n好,1\n")
    (root / "val.csv").write_text(text)
    return lambda: danmu.read_danmu_processed(str(root)), root / "val.csv"


EMPTY_CASES = {
    # dataset: (writer, header-only content, what a header-only file is called)
    "memotion7k": (_memotion_file, MEMOTION_HEADER, "no data rows: the file holds only its header line"),
    "mami": (_mami_file, MAMI_HEADER, "no data rows: the file holds only its header line"),
    "semeval21_task6": (_task6_file, "[]", "no memes: the file is an empty JSON array"),
    "danmu_raw": (_danmu_raw_file, DANMU_HEADER, "no data rows: the file holds only its header line"),
    "danmu_processed": (_danmu_split_file, "text,label\n", "no data rows: the file holds only its header line"),
}


@pytest.mark.parametrize("dataset", list(EMPTY_CASES))
@pytest.mark.parametrize("content", ["header only", "zero bytes", "blank lines"])
def test_empty_files_are_one_named_error_in_every_reader(tmp_path, dataset, content):
    writer, header, message = EMPTY_CASES[dataset]
    text = {"header only": header, "zero bytes": "", "blank lines": "\n\n \n"}[content]
    read, path = writer(tmp_path, text)
    with pytest.raises(DataError) as info:
        read()
    error = str(info.value)
    assert error.startswith(str(path)) and "\n" not in error
    if content == "header only":
        assert message in error
    elif content == "zero bytes":
        assert "empty file (0 bytes)" in error
    else:
        assert any(m in error for m in ("no header line", "first line is empty", "not valid JSON", "no data rows"))


@pytest.mark.parametrize("dataset", ["memotion7k", "mami", "semeval21_task6", "danmu"])
def test_cli_data_check_gives_exit_code_2_and_no_traceback(tmp_path, dataset, caplog, capsys):
    from memotion_tf import cli

    writer = {"memotion7k": _memotion_file, "mami": _mami_file, "semeval21_task6": _task6_file,
              "danmu": _danmu_raw_file}[dataset]
    _, path = writer(tmp_path, "")
    assert cli.main(["data", "check", "--dataset", dataset, "--data-dir", str(tmp_path)]) == 2
    assert f"{path}: empty file (0 bytes)" in caplog.text
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err + caplog.text


@pytest.mark.timeout(60)
def test_a_fifo_or_a_device_in_place_of_a_data_file_is_refused_without_reading(tmp_path):
    memotion(tmp_path, [])
    os.remove(tmp_path / "labels.csv")
    os.mkfifo(tmp_path / "labels.csv")  # reading it would block forever
    with pytest.raises(DataError, match=r"labels\.csv: not a regular file \(a FIFO"):
        memotion7k.read_memotion7k(str(tmp_path))
    os.remove(tmp_path / "labels.csv")
    os.symlink("/dev/zero", tmp_path / "labels.csv")  # reading it would never end
    with pytest.raises(DataError, match="not a regular file"):
        memotion7k.read_memotion7k(str(tmp_path))
    folder_name, json_name = semeval21_task6.SPLITS["train"]
    (tmp_path / folder_name).mkdir()
    os.mkfifo(tmp_path / folder_name / json_name)
    with pytest.raises(DataError, match="not a regular file"):
        semeval21_task6.read_semeval21_task6(tmp_path, "train")


# --- Duplicates -------------------------------------------------------------------------------------

def test_memotion_conflicting_duplicates_error_by_default_skip_when_asked(tmp_path):
    root = memotion(tmp_path, [("a.jpg", "positive", "x"), ("b.jpg", "negative", "y"),
                               ("a.jpg", "very_negative", "x"), ("c.jpg", "neutral", "z"),
                               ("c.jpg", "neutral", "z again")])
    with pytest.raises(DataError) as info:
        memotion7k.read_memotion7k(root)
    assert str(info.value) == (
        f"{os.path.join(root, 'labels.csv')}, column 'image_name': image 'a.jpg' is listed in rows 1, 3 with "
        "different labels; fix the file, or read it with duplicates='skip' to drop such rows")
    data = memotion7k.read_memotion7k(root, duplicates="skip")
    assert data.frame["image_name"].tolist() == ["b.jpg", "c.jpg", "c.jpg"]  # same labels: kept
    assert data.duplicates.skipped_rows == 2 and data.duplicates.conflicts == [("a.jpg", [1, 3])]
    assert data.duplicates.repeats == [("c.jpg", [4, 5])]
    assert "1 image(s) listed with conflicting labels, skipped (2 rows)" in data.duplicates.summary()
    kept = memotion7k.read_memotion7k(root, duplicates="keep")
    assert len(kept.frame) == 5 and kept.duplicates.skipped_rows == 0
    with pytest.raises(ValueError, match="duplicates must be one of"):
        memotion7k.read_memotion7k(root, duplicates="first")


def test_memotion_duplicates_are_judged_on_the_task_labels(tmp_path):
    # very_positive and positive are both "positive" for task A: the same label, not a conflict.
    root = memotion(tmp_path, [("a.jpg", "very_positive", "x"), ("a.jpg", "positive", "x")])
    data = memotion7k.read_memotion7k(root)
    assert len(data.frame) == 2 and data.duplicates.repeats == [("a.jpg", [1, 2])]


def test_mami_conflicting_duplicates(tmp_path):
    root = mami_training(tmp_path, [("1.jpg", 1, "a"), ("2.jpg", 0, "b"), ("1.jpg", 0, "a")])
    with pytest.raises(DataError, match=r"training\.csv, column 'file_name': image '1\.jpg' is listed in rows 1, 3"):
        mami.read_mami(root)
    data = mami.read_mami(root, duplicates="skip")
    assert data.frame["image_name"].tolist() == ["2.jpg"] and data.duplicates.skipped_rows == 2


def test_task6_one_image_under_two_ids_with_different_labels(tmp_path):
    task6_split(tmp_path, [meme("1", [LL, SM], image="x.png"), meme("2", [NC]),
                           meme("3", [SM, LL], image="x.png"), meme("4", [SM], image="x.png")])
    with pytest.raises(DataError, match=r"column 'image': image 'x\.png' is listed in rows 1, 3, 4 with different"):
        semeval21_task6.read_semeval21_task6(tmp_path)
    data = semeval21_task6.read_semeval21_task6(tmp_path, duplicates="skip")
    assert data.frame["id"].tolist() == ["2"] and data.duplicates.skipped_rows == 3
    # The order of a meme's techniques does not make a conflict.
    task6_split(tmp_path, [meme("1", [LL, SM], image="x.png"), meme("3", [SM, LL], image="x.png")])
    data = semeval21_task6.read_semeval21_task6(tmp_path)
    assert len(data.frame) == 2 and data.duplicates.repeats == [("x.png", [1, 2])]


def test_data_check_reports_duplicates_empty_texts_and_image_skips(tmp_path):
    for split in semeval21_task6.SPLITS:
        task6_split(tmp_path, [meme(f"{split}1", image="x.png"), meme(f"{split}2", [NC], image="x.png"),
                               meme(f"{split}3", text="  \n"), meme(f"{split}4", image="gone.png")], split)
        os.remove(tmp_path / semeval21_task6.SPLITS[split][0] / "gone.png")
    report = check_dataset("semeval21_task6", tmp_path, progress=False)
    assert report.count("1 memes have an empty text") == 3
    assert report.count("1 image(s) listed with conflicting labels, kept (duplicates='keep')") == 3
    assert report.count("3 of 4 memes have a readable image; 1 skipped") == 3
    with pytest.raises(DataError, match="listed in rows 1, 2 with different labels"):
        check_dataset("semeval21_task6", tmp_path, duplicates="error", progress=False)


# --- SemEval-2021 Task 6: the layouts copies come in ---------------------------------------------

def _nested_copy(root, gold=True):
    """The layout of a copy seen in the wild: dev nested one folder deeper with
    its images in a folder named after the file, notebook checkpoints beside
    the data, and the test file without labels, its gold at the root."""
    task6_split(root, [meme("1"), meme("2", [NC])], "train")
    dev = root / "dev_set_task3"
    task6_split(dev, [meme("10", [SM])], "dev", folder="dev_set_task3_labeled")
    os.replace(dev / "dev_set_task3_labeled" / "dev_set_task3_labeled.txt", dev / "dev_set_task3_labeled.txt")
    for folder in (root / "training_set_task3", dev, dev / "dev_set_task3_labeled"):
        (folder / ".ipynb_checkpoints").mkdir()
        (folder / ".ipynb_checkpoints" / "x-checkpoint.txt").write_text("[]")
    test = [meme("20", labels=None), meme("21", labels=None)]
    task6_split(root, test, "test")
    if gold:
        (root / "test_set_task3.txt").write_text(json.dumps([meme("21", [LL]), meme("20", [SM, NC])]))
    return root


def test_task6_nested_copy_with_test_gold_at_the_root(tmp_path, caplog):
    import logging

    root = _nested_copy(tmp_path)
    with caplog.at_level(logging.INFO, logger="memotion_tf"):
        splits = {s: semeval21_task6.read_semeval21_task6(root, s) for s in semeval21_task6.SPLITS}
    dev = splits["dev"]
    assert dev.json_file == str(root / "dev_set_task3" / "dev_set_task3_labeled.txt")
    assert all(os.path.isfile(p) for p in dev.frame["image_path"])
    assert dev.frame["image_path"][0] == str(root / "dev_set_task3" / "dev_set_task3_labeled" / "10_image.png")
    test = splits["test"]
    assert test.labelled and test.labels_file == str(root / "test_set_task3.txt")
    assert test.frame["labels"].tolist() == [[SM, NC], [LL]]  # matched by id, not by position
    assert f"labels from {root / 'test_set_task3.txt'}" in caplog.text
    report = check_dataset("semeval21_task6", root, progress=False)
    assert f"2 memes (labels from {root / 'test_set_task3.txt'})" in report


def test_task6_without_any_test_gold_reads_the_test_split_for_predictions(tmp_path):
    root = _nested_copy(tmp_path, gold=False)
    test = semeval21_task6.read_semeval21_task6(root, "test")
    assert not test.labelled and len(test.frame) == 2
    assert "no gold labels found: this split can be predicted, not scored" in check_dataset(
        "semeval21_task6", root, progress=False)


def test_task6_gold_that_does_not_match_the_split_is_named(tmp_path):
    root = _nested_copy(tmp_path)
    (root / "test_set_task3.txt").write_text(json.dumps([meme("21", [LL]), meme("99", [SM])]))
    with pytest.raises(DataError, match=r"test_set_task3\.txt: the gold file does not match the split: no gold "
                                        r"labels for id\(s\) \['20'\]"):
        semeval21_task6.read_semeval21_task6(root, "test")


def test_task6_two_nested_copies_of_a_split_are_named(tmp_path):
    task6_split(tmp_path / "a", [meme("1")], "dev")
    task6_split(tmp_path / "b", [meme("1")], "dev")
    with pytest.raises(DataError, match="found in more than one place"):
        semeval21_task6.read_semeval21_task6(tmp_path, "dev")


# --- Memes whose image is missing, for a model that reads no image ------------------------------

def test_text_only_callers_keep_memes_whose_image_is_missing(tmp_path):
    root = memotion(tmp_path, [("a.jpg", "positive", "x"), ("b.jpg", "negative", "y"), ("c.jpg", "neutral", "z")])
    os.remove(tmp_path / "images" / "b.jpg")
    (tmp_path / "images" / "c.jpg").write_bytes(b"not an image")
    frame = memotion7k.read_memotion7k(root).frame
    kept, report = check_images(frame, progress=False, required=False)
    assert kept["image_name"].tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    assert kept["image_ok"].tolist() == [True, False, False]
    assert report.kept == 3 and len(report.skipped) == 2
    assert report.summary().splitlines()[0] == (
        "1 of 3 memes have a readable image; 2 kept without one (the model does not read images)")
    assert "no image for row 2" in report.summary()
    required, report = check_images(frame, progress=False)
    assert required["image_name"].tolist() == ["a.jpg"] and report.kept == 1
    assert "image_ok" not in required


def test_check_images_of_an_empty_frame_keeps_its_columns():
    frame = pd.DataFrame({"row": [], "image_path": [], "text": []})
    kept, report = check_images(frame, progress=False)
    assert list(kept.columns) == ["row", "image_path", "text"] and report.total == 0


def test_memotion_copy_with_task_a_columns_only_and_small_images(tmp_path):
    """Like the Kaggle copy seen in the wild: no humour..motivational columns, 128 x 128 images."""
    root = memotion(tmp_path, [("image_1.jpg", "very_positive", "x"), ("image_2.png", "neutral", "y")])
    cv2.imwrite(str(tmp_path / "images" / "image_1.jpg"), np.zeros((128, 128, 3), np.uint8))
    report = check_dataset("memotion7k", root, progress=False)
    assert "2 rows, labels valid for task A" in report and "2 of 2 memes have a readable image" in report
    with pytest.raises(DataError, match=r"missing required column\(s\) \['humour'"):
        check_dataset("memotion7k", root, task="B", progress=False)
