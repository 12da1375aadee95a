"""MAMI reader, synthetic writer, cleaning and the paper's split protocol."""

import os
import pickle

import numpy as np
import pandas as pd
import pytest

from memotion_tf.datasets.common import DataError, check_images
from memotion_tf.datasets.mami import (
    LABEL_COLUMNS,
    MISOGYNY_WORDS,
    TASK_B_LABELS,
    TEXT_COLUMN,
    clean_mami_text,
    labelled_subset,
    read_mami,
    split_mami,
    write_synthetic_mami,
)

TRAIN_SIZE, TEST_SIZE = 60, 12
HEADER = ["file_name", *LABEL_COLUMNS, TEXT_COLUMN]


@pytest.fixture(scope="module")
def mami_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "MAMI"
    write_synthetic_mami(str(path), size=TRAIN_SIZE, seed=3, test_size=TEST_SIZE)
    return str(path)


def write_training(root, rows, header=HEADER, sep="\t"):
    """A hand-made TRAINING/training.csv (images are never opened by the reader)."""
    folder = os.path.join(root, "TRAINING")
    os.makedirs(folder, exist_ok=True)
    lines = [sep.join(header)] + [sep.join(str(v) for v in row) for row in rows]
    with open(os.path.join(folder, "training.csv"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return str(root)


def write_test(root, texts, labels, labels_at_root=False):
    folder = os.path.join(root, "test")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "Test.csv"), "w", encoding="utf-8") as f:
        f.write("\n".join(["file_name\t" + TEXT_COLUMN] + ["\t".join(r) for r in texts]) + "\n")
    where = root if labels_at_root else folder
    with open(os.path.join(where, "test_labels.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join("\t".join(str(v) for v in r) for r in labels) + "\n")
    return str(root)


GOOD_ROW = ["1.jpg", 1, 0, 1, 0, 0, "Some TEXT"]


# --- Round trip ---------------------------------------------------------------


def test_round_trip_task_a(mami_dir):
    data = read_mami(mami_dir, task="A")
    frame = data.frame
    assert list(frame.columns) == ["row", "image_name", "image_path", "text", "raw_text", "label"]
    assert len(frame) == TRAIN_SIZE
    assert frame["row"].tolist() == list(range(1, TRAIN_SIZE + 1))
    assert frame["label"].sum() == TRAIN_SIZE // 2  # balanced, as in the real data
    assert set(frame["label"]) == {0, 1}
    assert data.class_names == ("not_misogynous", "misogynous")
    assert all(p.startswith(os.path.realpath(mami_dir)) for p in frame["image_path"])
    assert (frame["text"] == frame["raw_text"].map(clean_mami_text)).all()
    kept, report = check_images(frame, progress=False)
    assert len(kept) == TRAIN_SIZE and not report.skipped


def test_round_trip_task_b_labels_only_on_misogynous(mami_dir):
    a = read_mami(mami_dir, task="A").frame
    b = read_mami(mami_dir, task="B").frame
    assert list(b.columns) == ["row", "image_name", "image_path", "text", "raw_text", *TASK_B_LABELS]
    assert len(b) == TRAIN_SIZE
    any_b = b[list(TASK_B_LABELS)].max(axis=1)
    assert (any_b <= a["label"]).all()
    assert any_b.sum() > 0


def test_round_trip_test_split(mami_dir):
    data = read_mami(mami_dir, task="B", split="test")
    assert len(data.frame) == TEST_SIZE
    assert data.labels_file.endswith(os.path.join("test", "test_labels.txt"))
    gold = pd.read_csv(data.labels_file, sep="\t", header=None, dtype=str)
    assert gold[0].tolist() == data.frame["image_name"].tolist()
    assert gold[2].astype(int).tolist() == data.frame["shaming"].tolist()
    a = read_mami(mami_dir, task="A", split="test").frame
    assert a["label"].sum() == TEST_SIZE // 2
    assert not set(a["image_name"]) & set(read_mami(mami_dir).frame["image_name"])


def test_synthetic_is_seeded_and_has_cues(tmp_path):
    first = write_synthetic_mami(str(tmp_path / "a"), size=120, seed=7, test_size=5)
    second = write_synthetic_mami(str(tmp_path / "b"), size=120, seed=7, test_size=5)
    for name in ("TRAINING/training.csv", "test/Test.csv", "test/test_labels.txt"):
        with open(os.path.join(first, name), "rb") as f1, open(os.path.join(second, name), "rb") as f2:
            assert f1.read() == f2.read()
    frame = read_mami(first).frame
    keyword = frame["text"].map(lambda t: any(w in t.split() for w in MISOGYNY_WORDS)).astype(int)
    assert (keyword == frame["label"]).mean() > 0.7  # the text cue beats chance clearly


def test_synthetic_write_replaces_folder_atomically(tmp_path):
    path = str(tmp_path / "MAMI")
    write_synthetic_mami(path, size=4, seed=0, test_size=2)
    write_synthetic_mami(path, size=6, seed=1, test_size=2)
    assert len(read_mami(path).frame) == 6
    assert len(os.listdir(os.path.join(path, "TRAINING"))) == 7  # 6 images + training.csv
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


# --- Bad input, one case each ----------------------------------------------------


def test_only_the_task_columns_are_required(tmp_path):
    root = write_training(tmp_path, [["1.jpg", 1, "Text"]], header=["file_name", "misogynous", TEXT_COLUMN])
    assert read_mami(root, task="A").frame["label"].tolist() == [1]


def test_missing_column_is_named(tmp_path):
    header = [c for c in HEADER if c != "violence"]
    root = write_training(tmp_path, [[v for c, v in zip(HEADER, GOOD_ROW) if c != "violence"]], header)
    with pytest.raises(DataError, match="violence"):
        read_mami(root, task="B")


def test_missing_text_column_is_named(tmp_path):
    root = write_training(tmp_path, [GOOD_ROW[:-1]], header=HEADER[:-1])
    with pytest.raises(DataError, match="Text Transcription"):
        read_mami(root, task="A")


@pytest.mark.parametrize("value", ["2", "yes", "1.0", ""])
def test_bad_label_value_names_row_and_column(tmp_path, value):
    bad = ["2.jpg", 1, 0, value, 0, 0, "text"]
    root = write_training(tmp_path, [GOOD_ROW, bad])
    with pytest.raises(DataError) as info:
        read_mami(root, task="B")
    assert info.value.row == 2 and info.value.column == "stereotype"
    assert info.value.file.endswith("training.csv")
    assert "row 2" in str(info.value) and "'stereotype'" in str(info.value)


def test_bad_test_label_names_labels_file_row_and_column(tmp_path):
    root = write_test(tmp_path, [["1.jpg", "a"], ["2.jpg", "b"]],
                      [["1.jpg", 0, 0, 0, 0, 0], ["2.jpg", "true", 0, 0, 0, 0]])
    with pytest.raises(DataError) as info:
        read_mami(root, task="A", split="test")
    assert info.value.file.endswith("test_labels.txt")
    assert (info.value.row, info.value.column) == (2, "misogynous")


@pytest.mark.parametrize("name", ["../escape.jpg", "/etc/passwd", "a/../../b.jpg"])
def test_escaping_file_name_is_rejected(tmp_path, name):
    root = write_training(tmp_path / "MAMI", [GOOD_ROW, [name, *GOOD_ROW[1:]]])
    with pytest.raises(DataError) as info:
        read_mami(root)
    assert (info.value.row, info.value.column) == (2, "file_name")


def test_pickle_is_refused(tmp_path):
    root = write_training(tmp_path, [GOOD_ROW])
    with open(os.path.join(root, "TRAINING", "training.csv"), "wb") as f:
        pickle.dump({"file_name": ["1.jpg"]}, f, protocol=4)
    with pytest.raises(DataError, match="pickle"):
        read_mami(root)


def test_pickle_path_as_dataset_is_refused(tmp_path):
    path = tmp_path / "mami.pkl"
    path.write_bytes(b"\x80\x04not read")
    with pytest.raises(DataError, match="unpickle"):
        read_mami(str(path))


def test_comma_separated_file_is_rejected(tmp_path):
    root = write_training(tmp_path, [GOOD_ROW], sep=",")
    with pytest.raises(DataError, match="not tab-separated.*comma"):
        read_mami(root)


def test_test_labels_with_wrong_field_count(tmp_path):
    root = write_test(tmp_path, [["1.jpg", "a"]], [["1.jpg", 0, 0]])
    with pytest.raises(DataError, match="expected 6 tab-separated fields"):
        read_mami(root, split="test")


def test_test_image_without_gold_label(tmp_path):
    root = write_test(tmp_path, [["1.jpg", "a"], ["2.jpg", "b"]], [["1.jpg", 1, 1, 0, 0, 0]])
    with pytest.raises(DataError) as info:
        read_mami(root, split="test")
    assert info.value.file.endswith("Test.csv")
    assert (info.value.row, info.value.column) == (2, "file_name")


def test_test_labels_at_root_are_accepted(tmp_path):
    root = write_test(tmp_path, [["1.jpg", "a"], ["2.jpg", "b"]],
                      [["2.jpg", 0, 0, 0, 0, 0], ["1.jpg", 1, 0, 0, 1, 1]], labels_at_root=True)
    data = read_mami(root, task="B", split="test")
    assert data.labels_file == os.path.join(root, "test_labels.txt")
    assert data.frame["objectification"].tolist() == [1, 0]
    assert data.frame["violence"].tolist() == [1, 0]


def test_test_labels_with_a_header_line_are_accepted(tmp_path):
    root = write_test(tmp_path, [["1.jpg", "a"]], [list(HEADER[:-1]), ["1.jpg", 1, 0, 0, 0, 0]])
    data = read_mami(root, split="test")
    assert data.frame["label"].tolist() == [1]


def test_missing_test_labels_file(tmp_path):
    root = write_test(tmp_path, [["1.jpg", "a"]], [["1.jpg", 1, 0, 0, 0, 0]])
    os.remove(os.path.join(root, "test", "test_labels.txt"))
    with pytest.raises(DataError, match="test_labels.txt"):
        read_mami(root, split="test")


def test_missing_training_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_mami(str(tmp_path))


def test_unknown_task_and_split(tmp_path):
    with pytest.raises(ValueError, match="task"):
        read_mami(str(tmp_path), task="C")
    with pytest.raises(ValueError, match="split"):
        read_mami(str(tmp_path), split="val")


# --- Cleaning, case by case -----------------------------------------------------


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("see https://t.co/AbC123 now", "see now"),
        ("http://example.org/a?b=c end", "end"),
        ("visit www.quickmeme.com/meme/1 ok", "visit ok"),
        ("1511 BestDemotivationalPosters.com CORN DOG", "1511 corn dog"),
        ("made with imgflip.com", "made with"),
        ("IM GONNA SLAP ΟΤΗ SAN", "im gonna slap san"),
        ("Café naïve …", "caf nave"),
        ("MiXeD CaSe", "mixed case"),
        ("don't stop", "dont stop"),
        ("don’t stop", "dont stop"),
        ("wait... what?!", "wait what"),
        ("end.Next,word", "end next word"),
        ("trust.me", "trust me"),
        ("  many \t spaces\n here ", "many spaces here"),
        ("", ""),
        (None, ""),
    ],
)
def test_clean_mami_text(raw, clean):
    assert clean_mami_text(raw) == clean


# --- The paper's split protocol ----------------------------------------------------


def label_frame(n, seed=0, task="A"):
    rng = np.random.default_rng(seed)
    miso = (rng.random(n) < 0.5).astype(int)
    if task == "A":
        return pd.DataFrame({"label": miso})
    b = (rng.random((n, 4)) < 0.3).astype(int) * miso[:, None]
    return pd.DataFrame(b, columns=list(TASK_B_LABELS))


@pytest.mark.parametrize("n, n_train, n_val", [(10000, 8000, 2000), (1000, 800, 200), (101, 81, 20)])
def test_split_sizes_are_80_20(n, n_train, n_val):
    train, val = split_mami(label_frame(n), seed=0)
    assert (len(train), len(val)) == (n_train, n_val)
    assert not set(train) & set(val)
    assert sorted(np.concatenate([train, val])) == list(range(n))


def test_split_is_seeded_and_stratified():
    frame = label_frame(1000, task="A")
    train, val = split_mami(frame, seed=5)
    again_train, again_val = split_mami(frame, seed=5)
    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    assert not np.array_equal(val, split_mami(frame, seed=6)[1])
    expected = frame["label"].sum() * 0.2
    assert abs(frame["label"].to_numpy()[val].sum() - expected) <= 1


def test_split_task_b_frame():
    frame = label_frame(500, task="B")
    train, val = split_mami(frame, seed=0)
    assert (len(train), len(val)) == (400, 100)


@pytest.mark.parametrize("ratio, n_labelled", [(0.3, 2400), (0.1, 800), (0.05, 400)])
def test_labelled_subset_ratios_are_exact(ratio, n_labelled):
    frame = label_frame(10000)
    train, _ = split_mami(frame, seed=0)
    labels = frame["label"].to_numpy()[train]
    labelled, unlabelled = labelled_subset(train, labels, ratio, seed=0)
    assert len(labelled) == n_labelled and len(unlabelled) == 8000 - n_labelled
    assert not set(labelled) & set(unlabelled)
    assert sorted(np.concatenate([labelled, unlabelled])) == sorted(train)
    expected = labels.sum() * ratio
    assert abs(frame["label"].to_numpy()[labelled].sum() - expected) <= 1  # stratified


def test_labelled_subset_is_seeded():
    train = np.arange(100, 900)
    labels = np.arange(800) % 2
    first = labelled_subset(train, labels, 0.1, seed=1)
    second = labelled_subset(train, labels, 0.1, seed=1)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], labelled_subset(train, labels, 0.1, seed=2)[0])


def test_labelled_subset_multi_label():
    frame = label_frame(1000, task="B")
    train = np.arange(1000)
    labelled, unlabelled = labelled_subset(train, frame.to_numpy(), 0.05, seed=0)
    assert (len(labelled), len(unlabelled)) == (50, 950)


def test_labelled_subset_rejects_bad_arguments():
    with pytest.raises(ValueError, match="aligned"):
        labelled_subset(np.arange(10), np.zeros(9), 0.3, seed=0)
    with pytest.raises(ValueError, match="ratio"):
        labelled_subset(np.arange(10), np.zeros(10), 1.5, seed=0)
