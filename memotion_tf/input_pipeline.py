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
                 augment=None, augment_seed=0, raw_text_column=None):
    """Batches of ({"token_ids", ..., "image"}, target) for the given modalities.

    Args:
        frame: rows with `text` and `image_path` (and the label column).
        modalities: ("text",), ("image",) or both.
        batch_size: the global batch size.
        num_classes: one-hot targets from `label_column`; None (and no
            `targets`) gives features only, for predict.
        vectorizer: a `SequenceVectorizer` or a keras-hub preprocessor.
        targets: [rows, classes] targets (e.g. multi-hot) instead of one-hot labels.
        shuffle_seed: shuffle the rows every epoch with this seed.
        augment: `fn(images, seed) -> images` on each batch of decoded images
            (e.g. `rand_augment`); `seed` is a fresh stateless [2] seed per
            batch and epoch, drawn from `augment_seed`.
        raw_text_column: also vectorise this column, as inputs prefixed
            `raw_` (the second view of CN-HIT-MI.T's KL loss).
    """
    columns = {"text": frame["text"].astype(str).to_numpy(), "image_path": frame["image_path"].to_numpy()}
    if raw_text_column:
        columns["raw_text"] = frame[raw_text_column].astype(str).to_numpy()
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
        out = {key: features[key] for key in ("text", "raw_text") if key in features}
        if "image" in modalities:
            out["image"] = load_image(features["image_path"], image_size)
        return (out, *label)

    def vectorise(features, *label):
        out = {}
        if "text" in modalities:
            out.update(text_inputs(vectorizer, features["text"]))
            if "raw_text" in features:
                out.update({f"raw_{k}": v for k, v in text_inputs(vectorizer, features["raw_text"]).items()})
        if "image" in modalities:
            out["image"] = features["image"]
        return (out, *label) if label else out

    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size)
    if augment is not None and "image" in modalities:
        # One stateless seed per batch (new each epoch); the augmentation
        # derives one per image from it, so every image gets its own ops.
        seeds = tf.data.Dataset.random(seed=augment_seed, rerandomize_each_iteration=True).batch(2)

        def augment_batch(batch, seed):
            features, *label = batch
            features = dict(features, image=augment(features["image"], seed))
            return (features, *label)

        ds = tf.data.Dataset.zip((ds, seeds)).map(augment_batch, num_parallel_calls=AUTOTUNE)
    ds = ds.map(vectorise, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def token_dataset(token_ids, labels, *, num_classes, batch_size, shuffle_seed=None):
    """Batches of ({"token_ids"}, one-hot label) from already-vectorised text,
    e.g. after GMM oversampling."""
    ds = tf.data.Dataset.from_tensor_slices(({"token_ids": token_ids}, _one_hot(labels, num_classes)))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
