"""`meme_dataset` batches what decoding each meme on its own and stacking gives."""

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.input_pipeline import augment_seeds, meme_dataset
from memotion_tf.preprocessing.image import load_image
from memotion_tf.preprocessing.randaugment import rand_augment
from memotion_tf.preprocessing.text import SequenceVectorizer
from tests import fixtures

SIZE = 20


def _augment(images, seed):
    return rand_augment(images, seed, num_ops=2, magnitude=9)


@pytest.mark.parametrize("augment", [None, _augment])
def test_batches_equal_memes_decoded_one_by_one(augment):
    frame = fixtures.memotion_data().frame.head(19)
    frame = frame.assign(raw=frame["text"].str.upper())
    vectorizer = SequenceVectorizer(10)
    vectorizer.adapt(frame["text"])
    ds = meme_dataset(frame, modalities=("text", "image"), batch_size=8, num_classes=3, vectorizer=vectorizer,
                      image_size=SIZE, augment=augment, augment_seed=4, raw_text_column="raw")
    # The seeds of the first epoch; the pipeline's own seed stream starts alike.
    seeds = list(augment_seeds(4).take(3))
    first, second = list(ds), list(ds)
    assert [len(y) for _, y in first] == [8, 8, 3]
    for i, (x, y) in enumerate(first):
        rows = frame.iloc[8 * i: 8 * i + 8]
        images = tf.stack([load_image(path, SIZE) for path in rows["image_path"]])
        if augment is None:
            np.testing.assert_array_equal(x["image"], images)
        else:  # eager here, in a graph there: a float rounding apart
            images = augment(images, seeds[i])
            np.testing.assert_allclose(x["image"], images, atol=1e-5)
        # The second epoch draws new augmentations of the same memes.
        assert np.array_equal(second[i][0]["image"], images) == (augment is None)
        np.testing.assert_array_equal(x["token_ids"], vectorizer(tf.constant(list(rows["text"]))))
        np.testing.assert_array_equal(x["raw_token_ids"], vectorizer(tf.constant(list(rows["raw"]))))
        np.testing.assert_array_equal(y, np.eye(3, dtype="float32")[rows["label"]])


def test_text_only_reads_no_image_and_predict_batches_have_no_label():
    frame = fixtures.memotion_data().frame.head(5).assign(image_path="/nonexistent.jpg")
    vectorizer = SequenceVectorizer(6)
    vectorizer.adapt(frame["text"])
    (x,) = list(meme_dataset(frame, modalities=("text",), batch_size=8, vectorizer=vectorizer))
    assert sorted(x) == ["token_ids"] and x["token_ids"].shape == (5, 6)
