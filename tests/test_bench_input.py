"""The TFRecord input pipeline of `make bench` feeds the model what the file pipeline does."""

import numpy as np
import tensorflow as tf

from memotion_tf.bench_input import FEATURES, report, tfrecord_dataset, write_tfrecords
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
        np.testing.assert_allclose(x["image"], x_ref["image"], atol=1e-6)
        np.testing.assert_array_equal(y, y_ref)


def test_report_prints_the_ratios():
    text = report({"memes": 10, "image_size": 128, "batch_size": 32, "tfrecord_mib": 1.5,
                   "decode_resize_images_per_s": 200.0, "files_images_per_s": 100.0,
                   "tfrecords_images_per_s": 150.0})
    assert "(0.50 x decode alone)" in text and "(0.75 x decode alone, 1.50 x files; 1.5 MiB)" in text
