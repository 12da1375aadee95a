import os
import pickle

import pandas as pd
import pytest

from memotion_tf.datasets.common import DataError, check_images
from memotion_tf.datasets.memotion7k import (
    EXTENSIONS, TASK_A_CLASSES, read_memotion7k, write_synthetic_memotion7k,
)


def _write(folder, rows, columns=None):
    """A labels.csv in the official shape (unnamed index first) plus images/."""
    os.makedirs(folder / "images", exist_ok=True)
    frame = pd.DataFrame(rows, columns=columns)
    frame.to_csv(folder / "labels.csv", index=True)
    return str(folder)


ROW = {
    "image_name": "image_1.jpg", "text_ocr": "HI", "text_corrected": "hi",
    "humour": "funny", "sarcasm": "general", "offensive": "slight",
    "motivational": "not_motivational", "overall_sentiment": "very_positive",
}


def test_task_label_mappings(tmp_path):
    rows = [
        ROW,
        dict(ROW, image_name="b.png", overall_sentiment="very_negative", humour="not_funny",
             sarcasm="very_twisted", offensive="not_offensive", motivational="motivational"),
        dict(ROW, image_name="c.bmp", overall_sentiment="neutral"),
        dict(ROW, image_name="d.bmp", overall_sentiment="negative"),
    ]
    folder = _write(tmp_path, rows)
    a = read_memotion7k(folder, task="A")
    assert a.class_names == ("negative", "neutral", "positive")
    assert a.frame["label"].tolist() == [2, 0, 1, 0]
    b = read_memotion7k(folder, task="B")
    assert b.frame[["humour", "sarcasm", "offensive", "motivational"]].values.tolist()[:2] == [
        [1, 1, 1, 0], [0, 1, 0, 1]]
    c = read_memotion7k(folder, task="C")
    assert c.frame[["humour", "sarcasm", "offensive", "motivational"]].values.tolist()[:2] == [
        [1, 1, 1, 0], [0, 3, 0, 1]]


def test_task_a_needs_only_its_columns(tmp_path):
    folder = _write(tmp_path, [{"image_name": "a.jpg", "text_corrected": "x", "overall_sentiment": "positive"}])
    assert read_memotion7k(folder, task="A").frame["label"].tolist() == [2]
    with pytest.raises(DataError, match=r"missing required column.*humour"):
        read_memotion7k(folder, task="B")


def test_missing_column_names_file_and_column(tmp_path):
    folder = _write(tmp_path, [{"image_name": "a.jpg", "overall_sentiment": "positive"}])
    with pytest.raises(DataError, match=r"labels\.csv.*text_corrected"):
        read_memotion7k(folder)


def test_unknown_label_names_file_row_and_column(tmp_path):
    folder = _write(tmp_path, [ROW, dict(ROW, image_name="b.jpg", overall_sentiment="very positive")])
    with pytest.raises(DataError) as info:
        read_memotion7k(folder)
    message = str(info.value)
    assert "labels.csv" in message and "row 2" in message and "overall_sentiment" in message
    assert "'very positive'" in message


@pytest.mark.parametrize("name", ["../x.jpg", "../../etc/passwd", "images/../../x.jpg"])
def test_image_name_escaping_the_folder_is_rejected(tmp_path, name):
    folder = _write(tmp_path, [dict(ROW, image_name=name)])
    with pytest.raises(DataError, match=r"row 1.*image_name.*escapes"):
        read_memotion7k(folder)


def test_absolute_image_name_is_rejected(tmp_path):
    folder = _write(tmp_path, [dict(ROW, image_name="/etc/hosts")])
    with pytest.raises(DataError, match=r"absolute path"):
        read_memotion7k(folder)


def test_pickle_only_copy_is_refused(tmp_path):
    with open(tmp_path / "labels_pd_pickle", "wb") as f:
        pickle.dump({"would": "run code"}, f)
    with pytest.raises(DataError, match=r"labels_pd_pickle is present but is never unpickled"):
        read_memotion7k(str(tmp_path))
    with pytest.raises(DataError, match=r"refusing to unpickle"):
        read_memotion7k(str(tmp_path / "labels_pd_pickle"))


def test_labels_csv_that_is_a_pickle_is_refused(tmp_path):
    with open(tmp_path / "labels.csv", "wb") as f:
        pickle.dump([1, 2, 3], f, protocol=4)
    with pytest.raises(DataError, match=r"is a pickle"):
        read_memotion7k(str(tmp_path))


def test_non_utf8_csv_is_named(tmp_path):
    (tmp_path / "labels.csv").write_bytes(b",image_name,text_corrected,overall_sentiment\n0,a.jpg,caf\xe9,positive\n")
    with pytest.raises(DataError, match=r"labels\.csv.*not UTF-8"):
        read_memotion7k(str(tmp_path))


def test_synthetic_copy_has_the_real_layout_and_quirks(memotion_dir):
    frame = pd.read_csv(os.path.join(memotion_dir, "labels.csv"), dtype=str, keep_default_na=False)
    assert frame.columns[0].startswith("Unnamed")  # the unnamed row index
    assert list(frame.columns[1:]) == ["image_name", "text_ocr", "text_corrected", "humour", "sarcasm",
                                       "offensive", "motivational", "overall_sentiment"]
    assert {os.path.splitext(n)[1] for n in frame["image_name"]} == set(EXTENSIONS)
    assert (frame["text_corrected"] == "").sum() >= 1
    data = read_memotion7k(memotion_dir)
    counts = data.frame["label"].value_counts()
    # The real imbalance 631:2201:4160 (negative:neutral:positive), within rounding.
    assert abs(counts[2] / counts[0] - 4160 / 631) < 0.6
    assert abs(counts[1] / counts[0] - 2201 / 631) < 0.4


def test_missing_and_corrupt_images_are_counted_and_skipped(memotion_dir):
    data = read_memotion7k(memotion_dir)
    kept, report = check_images(data.frame, progress=False)
    assert report.total == 480 and len(report.skipped) == 4
    reasons = sorted(reason.split(":")[0] for _, _, reason in report.skipped)
    assert reasons == ["missing", "missing", "unreadable", "unreadable"]
    assert len(kept) == 476
    assert not set(kept["row"]) & {row for row, _, _ in report.skipped}
    assert "476 of 480" in report.summary()


def test_synthetic_writer_is_seeded(tmp_path):
    a = write_synthetic_memotion7k(str(tmp_path / "a"), size=40, seed=3)
    b = write_synthetic_memotion7k(str(tmp_path / "b"), size=40, seed=3)
    assert open(os.path.join(a, "labels.csv")).read() == open(os.path.join(b, "labels.csv")).read()


def test_synthetic_labels_carry_text_and_image_signal(memotion_data):
    """Independent of any network: a linear model on bag-of-words beats chance,
    one on mean colour beats chance, and one on both beats either."""
    import numpy as np
    import tensorflow as tf
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from memotion_tf.preprocessing.image import load_image

    frame = memotion_data.frame
    words = CountVectorizer().fit_transform(frame["text"]).toarray()
    colours = np.stack([tf.reduce_mean(load_image(p, 32), axis=(0, 1)).numpy() for p in frame["image_path"]])
    y = frame["label"].to_numpy()
    tr, va = memotion_data.folds[0]

    def score(x):
        clf = LogisticRegression(max_iter=2000, class_weight="balanced").fit(x[tr], y[tr])
        return f1_score(y[va], clf.predict(x[va]), average="macro")

    text, image, both = score(words), score(colours * 10), score(np.hstack([words, colours * 10]))
    assert text > 0.45 and image > 0.45, (text, image)
    assert both > max(text, image), (text, image, both)
    assert memotion_data.class_names == TASK_A_CLASSES


def test_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    (tmp_path / "labels.csv").write_bytes(
        "\ufeffimage_name,text_corrected,overall_sentiment\na.jpg,x,neutral\n".encode("utf-8"))
    assert read_memotion7k(str(tmp_path)).frame["image_name"].tolist() == ["a.jpg"]
