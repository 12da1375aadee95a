"""tf.data pipelines from validated records to model inputs.

Step order (big_vision's): slices -> shuffle -> map(decode) -> batch ->
map(vectorise) -> prefetch. Only file paths and strings are held in memory;
images are read from disk per batch, so memory does not grow with the number
of memes. Text is vectorised per batch by the same `SequenceVectorizer` that
the exported SavedModel carries, and images are decoded by the same function.
"""

import keras
import numpy as np
import tensorflow as tf

from memotion_tf.preprocessing.image import load_image

AUTOTUNE = tf.data.AUTOTUNE


def text_inputs(vectorizer, text):
    """Model inputs for a batch of raw strings: `{"token_ids"}` from a
    `SequenceVectorizer`, or the dict a keras-hub preprocessor returns
    (`token_ids`, `padding_mask`, `segment_ids`)."""
    out = vectorizer(text)
    return dict(out) if isinstance(out, dict) else {"token_ids": out}


def _one_hot(labels, num_classes):
    return keras.utils.to_categorical(np.asarray(labels, dtype="int64"), num_classes).astype("float32")


def meme_dataset(frame, *, modalities, batch_size, num_classes=None, vectorizer=None,
                 image_size=128, label_column="label", targets=None, shuffle_seed=None,
                 image_map=None):
    """Batches of ({"token_ids", ..., "image"}, target) for the given modalities.

    The target is the one-hot `label_column`, or `targets` ([rows, classes],
    e.g. multi-hot labels) when given. With neither `num_classes` nor `targets`
    the dataset carries features only (for predict). `image_map`, if given, is
    applied to each decoded image before batching (augmentation).
    """
    columns = {"text": frame["text"].astype(str).to_numpy(), "image_path": frame["image_path"].to_numpy()}
    if targets is not None:
        targets = np.asarray(targets, dtype="float32")
        if len(targets) != len(frame):
            raise ValueError(f"{len(targets)} targets for {len(frame)} rows")
        ds = tf.data.Dataset.from_tensor_slices((columns, targets))
    elif num_classes is not None:
        ds = tf.data.Dataset.from_tensor_slices((columns, _one_hot(frame[label_column], num_classes)))
    else:
        ds = tf.data.Dataset.from_tensor_slices((columns,))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(frame), seed=shuffle_seed, reshuffle_each_iteration=True)

    def decode(features, *label):
        out = {"text": features["text"]}
        if "image" in modalities:
            out["image"] = load_image(features["image_path"], image_size)
            if image_map is not None:
                out["image"] = image_map(out["image"])
        return (out, *label)

    def vectorise(features, *label):
        out = {}
        if "text" in modalities:
            out.update(text_inputs(vectorizer, features["text"]))
        if "image" in modalities:
            out["image"] = features["image"]
        return (out, *label) if label else out

    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size)
    ds = ds.map(vectorise, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def token_dataset(token_ids, labels, *, num_classes, batch_size, shuffle_seed=None):
    """Batches of ({"token_ids"}, one-hot label) from already-vectorised text,
    e.g. after GMM oversampling."""
    ds = tf.data.Dataset.from_tensor_slices(({"token_ids": token_ids}, _one_hot(labels, num_classes)))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
