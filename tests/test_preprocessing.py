import cv2
import numpy as np
import tensorflow as tf

from memotion_tf.preprocessing.image import decode_image, load_image
from memotion_tf.preprocessing.text import SequenceVectorizer, tokenizer_standardize


def _vectorizer(texts, length):
    v = SequenceVectorizer(sequence_length=length)
    v.adapt(texts)
    return v


def test_standardize_matches_keras_tokenizer_filters():
    out = tokenizer_standardize(tf.constant(["Hello, World!! it's (imgflip.com)"])).numpy()[0].decode()
    assert out.split() == ["hello", "world", "it's", "imgflip", "com"]


def test_vocabulary_by_frequency_front_padding_and_unknown_words_dropped():
    v = _vectorizer(["b a b", "c b a"], length=5)
    # ids: 0 pad, 1 unused OOV slot, then by frequency: b=2, a=3, c=4.
    assert v.get_vocabulary()[2:] == ["b", "a", "c"]
    ids = v(tf.constant(["a zzz b", "", "c"])).numpy()
    np.testing.assert_array_equal(ids, [[0, 0, 0, 3, 2], [0, 0, 0, 0, 0], [0, 0, 0, 0, 4]])


def test_long_text_keeps_the_last_tokens_like_pad_sequences():
    v = _vectorizer(["a b c d e f"], length=3)
    ids = v(tf.constant(["a b c d e f"])).numpy()
    vocab = v.get_vocabulary()
    assert [vocab[i] for i in ids[0]] == ["d", "e", "f"]


def test_vectorizer_same_eagerly_and_inside_dataset_map():
    v = _vectorizer(["x y z", "y z"], length=4)
    texts = ["x y", "z z z z z", ""]
    eager = v(tf.constant(texts)).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensor_slices(texts).batch(3).map(v))).numpy()
    np.testing.assert_array_equal(eager, mapped)
    assert eager.dtype == np.int32 and eager.shape == (3, 4)


def test_image_decoded_by_content_not_extension(tmp_path):
    image = np.zeros((20, 30, 3), np.uint8)
    image[:, :, 2] = 255  # red in BGR
    path = str(tmp_path / "actually_jpeg.png")
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    with open(path, "wb") as f:
        f.write(encoded.tobytes())
    out = load_image(path, 16).numpy()
    assert out.shape == (16, 16, 3)
    assert out[..., 0].mean() > 0.9 and out[..., 2].mean() < 0.1  # RGB order, red channel first


def test_grayscale_is_duplicated_to_three_channels_and_scaled():
    gray = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
    ok, encoded = cv2.imencode(".png", gray)
    out = decode_image(encoded.tobytes(), 16).numpy()
    assert out.shape == (16, 16, 3)
    np.testing.assert_allclose(out[..., 0], out[..., 1])
    np.testing.assert_allclose(out[..., 1], out[..., 2])
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out[0, :, 0], np.arange(0, 256, 16) / 255.0, atol=1e-6)


def test_rgba_png_drops_alpha():
    rgba = np.full((8, 8, 4), 200, np.uint8)
    ok, encoded = cv2.imencode(".png", rgba)
    assert decode_image(encoded.tobytes(), 8).shape == (8, 8, 3)
