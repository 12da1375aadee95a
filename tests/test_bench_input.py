"""`make bench`'s pieces: the TFRecord input pipeline feeds the model what the
file pipeline does, rounds alternate, and the ratio lines say what was measured."""

import time

import numpy as np
import tensorflow as tf

from memotion_tf.benchmarks.common import Target, interleaved_throughput
from memotion_tf.benchmarks.input import FEATURES, opencv_decode, report, targets, tfrecord_dataset, write_tfrecords
from memotion_tf.input_pipeline import meme_dataset
from memotion_tf.preprocessing.text import SequenceVectorizer
from tests import fixtures


def test_tfrecords_give_the_same_batches_as_the_image_files(tmp_path):
    frame = fixtures.memotion_data().frame.head(21)
    vectorizer = SequenceVectorizer(12)
    vectorizer.adapt(frame["text"])
    path = write_tfrecords(frame, str(tmp_path / "memes.tfrecord"))
    first = tf.io.parse_single_example(next(iter(tf.data.TFRecordDataset(path))), FEATURES)
    with open(frame["image_path"].iloc[0], "rb") as f:
        assert first["image"].numpy() == f.read()  # the encoded bytes, as stored on disk
    assert first["text"].numpy().decode() == frame["text"].iloc[0]
    pipeline = dict(modalities=("text", "image"), batch_size=8, num_classes=3, vectorizer=vectorizer, image_size=24)
    expected = list(meme_dataset(frame, **pipeline))
    ours = list(tfrecord_dataset([path], **pipeline))
    assert len(ours) == len(expected) == 3
    for (x, y), (x_ref, y_ref) in zip(ours, expected):
        assert sorted(x) == sorted(x_ref) == ["image", "token_ids"]
        np.testing.assert_array_equal(x["token_ids"], x_ref["token_ids"])
        np.testing.assert_array_equal(x["image"], x_ref["image"])
        np.testing.assert_array_equal(y, y_ref)


def test_the_opencv_row_decodes_every_file_of_the_frame(monkeypatch):
    import cv2

    frame = fixtures.memotion_data().frame.head(5)
    sizes = []
    real_resize = cv2.resize
    monkeypatch.setattr(cv2, "resize", lambda image, size, **kw: sizes.append(size) or real_resize(image, size, **kw))
    for threads in (1, 2):
        opencv_decode(list(frame["image_path"]), 24, threads)()
    assert sizes == [(24, 24)] * 10


def test_rounds_alternate_after_the_warm_up():
    calls = []
    runs = [lambda: calls.append("a"), lambda: calls.append("b"), iter(())]
    found = interleaved_throughput(runs, count=1, repeats=2, warmup=True)
    assert calls == ["a", "b"] * 3 and len(found) == 3 and all(f.rate > 0 for f in found)
    assert [f.setup_s for f in found[:2]] == [0.0, 0.0]


class SlowToStart:
    """An iterable whose iterator takes `setup` seconds to make, then gives `count` items at once."""

    def __init__(self, setup, count):
        self.setup, self.count = setup, count

    def __iter__(self):
        time.sleep(self.setup)
        return iter(range(self.count))


def test_making_the_iterator_is_timed_apart_from_the_round():
    found = interleaved_throughput([SlowToStart(0.3, 100)], count=100, repeats=2)
    assert found[0].setup_s >= 0.3
    # Timed with the set-up, 100 items would take over 0.3 s: under 334 items/s.
    assert found[0].rate > 10_000


def test_target_lines_state_the_ratio_the_bound_and_a_miss():
    assert Target("a / b", 0.934, 0.9).line() == "a / b: 0.93x (target >= 0.9x)"
    assert Target("a / b", 0.85, 0.9).line() == "a / b: 0.85x (target >= 0.9x)  MISSED"
    assert Target("4x / 1x", 1.02, 1.1, at_most=True).line() == "4x / 1x: 1.02x (target <= 1.1x)"
    assert not Target("4x / 1x", 1.2, 1.1, at_most=True).met


def test_report_picks_the_fastest_opencv_row():
    result = {"memes": 10, "image_size": 128, "batch_size": 32, "repeats": 5, "tfrecord_mib": 1.5,
              "opencv_images_per_s": {1: 100.0, 2: 200.0}, "tf_decode_images_per_s": 150.0,
              "files_images_per_s": 190.0, "tfrecords_images_per_s": 209.0}
    lines = [t.line() for t in targets(result)]
    assert lines == ["input pipeline from files / OpenCV (2 threads): 0.95x (target >= 0.9x)",
                     "input pipeline from one TFRecord file / from files: 1.10x (target >= 1x)"]
    text = report(result)
    assert "OpenCV read+imdecode+resize, 1 thread " in text and "0.50x" in text and "(1.5 MiB)" in text
