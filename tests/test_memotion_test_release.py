"""Reading Memotion's official test release and writing the task's answer format."""

import os

import pandas as pd
import pytest

from memotion_tf.datasets.common import DataError
from memotion_tf.datasets.memotion7k import (
    GOLD_FILES, TEST_FILE, parse_gold_label, read_memotion7k_test, submission_lines,
    write_synthetic_memotion7k_test,
)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_synthetic_memotion7k_test(str(tmp_path_factory.mktemp("release") / "test"), size=30, seed=5)


def test_gold_labels_are_joined_by_image_name_for_each_task(release):
    gold = pd.read_csv(os.path.join(release, GOLD_FILES[0]), dtype=str).set_index("Image_name")["Labels"]
    listed = pd.read_csv(os.path.join(release, TEST_FILE), dtype=str)["Image_name"].tolist()
    assert gold.index.tolist() != listed  # the writer shuffles the gold file
    a, b, c = (read_memotion7k_test(release, task=t).frame for t in "ABC")
    assert a["image_name"].tolist() == listed and a["row"].tolist() == list(range(1, 31))
    for i, name in enumerate(listed):
        code, yes_no, levels = gold[name].split("_")
        assert a["label"][i] == ["-1", "0", "1"].index(code)
        assert [b[k][i] for k in ("humour", "sarcasm", "offensive", "motivational")] == [int(d) for d in yes_no]
        assert [c[k][i] for k in ("humour", "sarcasm", "offensive", "motivational")] == [int(d) for d in levels]


def test_ocr_text_and_the_gold_file_name_with_a_space(tmp_path):
    folder = write_synthetic_memotion7k_test(str(tmp_path / "t"), size=9, seed=1, gold_name=GOLD_FILES[1])
    data = read_memotion7k_test(folder, text_field="text_ocr")
    assert data.gold_file.endswith("Meme_groundTruth .csv")
    assert all(t == t.upper() for t in data.frame["text"]) and "label" in data.frame


def test_without_gold_the_memes_come_unlabelled(tmp_path):
    folder = write_synthetic_memotion7k_test(str(tmp_path / "t"), size=9, seed=1, gold=False)
    data = read_memotion7k_test(folder)
    assert data.gold_file is None and "label" not in data.frame and len(data.frame) == 9


def test_a_malformed_gold_label_names_file_row_and_column(release, tmp_path):
    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(release, copy)
    path = os.path.join(copy, GOLD_FILES[0])
    frame = pd.read_csv(path, dtype=str)
    frame.loc[6, "Labels"] = "2_1100_1210"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"Meme_groundTruth.csv.*row 7.*Labels.*malformed label '2_1100_1210'"):
        read_memotion7k_test(copy)
    frame.drop(index=6).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"1 test meme\(s\) have no gold label"):
        read_memotion7k_test(copy)


def test_a_missing_release_is_named():
    with pytest.raises(DataError, match="2000_testdata.csv not found"):
        read_memotion7k_test("/nonexistent/folder")


def test_gold_label_parse_by_hand():
    parsed = parse_gold_label("-1_1010_3021", "gold.csv", 1)
    assert parsed["label"] == 0
    assert [parsed[f"{k}_b"] for k in ("humour", "sarcasm", "offensive", "motivational")] == [1, 0, 1, 0]
    assert [parsed[f"{k}_c"] for k in ("humour", "sarcasm", "offensive", "motivational")] == [3, 0, 2, 1]
    with pytest.raises(DataError, match="malformed"):
        parse_gold_label("1_1010_3022", "gold.csv", 1)  # motivational has two levels


def test_answer_format_by_hand():
    assert submission_lines("A", [0, 1, 2]) == ["-1_9999_9999", "0_9999_9999", "1_9999_9999"]
    b = {"humour": [1, 0], "sarcasm": [0, 0], "offensive": [1, 1], "motivational": [0, 1]}
    assert submission_lines("B", b) == ["9_1010_9999", "9_0011_9999"]
    c = {"humour": [3], "sarcasm": [2], "offensive": [0], "motivational": [1]}
    assert submission_lines("C", c) == ["9_9999_3201"]
