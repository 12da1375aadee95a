"""tf.data pipelines from validated records to model inputs.

Step order: slices -> shuffle -> batch -> map(read, decode, augment,
vectorise) -> prefetch. Only file paths and strings are held in memory;
images are read from disk per batch, so memory does not grow with the number
of memes. Text is vectorised per batch by the same `SequenceVectorizer` that
the exported SavedModel carries, and images are decoded by the same function.

Batching before the map, and doing every per-batch step in one map, costs
one tf.data function call per batch instead of one per meme plus one per
batch for each later step; the images of a batch are decoded one by one
inside it (`tf.map_fn`, in parallel), and several batches are in flight at
once (`num_parallel_calls`), so both cores decode. The batches, their order
and their values are those of a per-meme map then a batch (the order is kept:
`deterministic=True`); only fewer, larger function calls do the work.

For training, pass `epoch` (a `training.epochs.EpochCounter`'s variable):
the rows are then gathered per batch in an order drawn from (seed, epoch),
and augmentation seeds likewise (`epoch_batches`), so a run resumed at epoch
k reads exactly the batches an uninterrupted run reads at epoch k.
"""

import keras
import numpy as np
import tensorflow as tf

from memotion_tf.preprocessing.image import checked_pixels, decode_image

AUTOTUNE = tf.data.AUTOTUNE
# Images one `tf.map_fn` decodes at the same time within a batch; together with
# the batches that tf.data maps in parallel, enough to keep every core busy.
DECODE_PARALLELISM = 8


def text_inputs(vectorizer, text):
    """Model inputs for a batch of raw strings: `{"token_ids"}` from a
    `SequenceVectorizer`, or the dict a keras-hub preprocessor returns
    (`token_ids`, `padding_mask`, `segment_ids`)."""
    out = vectorizer(text)
    return dict(out) if isinstance(out, dict) else {"token_ids": out}


def _one_hot(labels, num_classes):
    return keras.utils.to_categorical(np.asarray(labels, dtype="int64"), num_classes).astype("float32")


def decode_images(images, image_size, from_files=True):
    """A `[batch, image_size, image_size, 3]` float batch from a `[batch]` string
    tensor of image paths (`from_files`) or of encoded image bytes, each image
    decoded as `preprocessing.image` decodes one. The size limits are checked
    on the whole batch's headers at once (`checked_pixels`), before any image
    is decoded: one image at a time, the check cost about half a small meme's decode."""
    if from_files:
        images = tf.map_fn(tf.io.read_file, images, parallel_iterations=DECODE_PARALLELISM,
                           fn_output_signature=tf.string)
    images = checked_pixels(images)
    return tf.map_fn(lambda x: decode_image(x, image_size, max_pixels=None, max_bytes=None), images,
                     parallel_iterations=DECODE_PARALLELISM,
                     fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32))


def batch_inputs(modalities, vectorizer=None, image_size=128, augment=None):
    """`fn(features, *label[, seed])` turning one batch of raw features into model inputs.

    `features` holds `text` (and `raw_text`) strings and `image_path` (file
    paths) or `image_bytes` (encoded images); images are decoded
    (`decode_images`), augmented with `augment(images, seed)` when given (then
    the batch's `[2]` seed is the last argument), text vectorised
    (`text_inputs`). Shared by `meme_dataset` and pipelines over other
    sources (e.g. TFRecords of encoded images), so that they feed the model the
    same inputs."""

    def fn(features, *rest):
        if augment is not None:
            *label, seed = rest
        else:
            label = rest
        out = {}
        if "text" in modalities:
            out.update(text_inputs(vectorizer, features["text"]))
            if "raw_text" in features:
                out.update({f"raw_{k}": v for k, v in text_inputs(vectorizer, features["raw_text"]).items()})
        if "image" in modalities:
            from_files = "image_path" in features
            images = decode_images(features["image_path" if from_files else "image_bytes"], image_size, from_files)
            if augment is not None:
                images = augment(images, seed)
            out["image"] = images
        return (out, *label) if label else out

    return fn


def augment_seeds(augment_seed):
    """One stateless `[2]` seed per batch, new each epoch; the augmentation
    derives one per image from it, so every image gets its own ops. Each
    epoch's seeds come from how often the dataset was iterated before, which
    a resumed run does not repeat: pass `epoch` to `meme_dataset` instead."""
    return tf.data.Dataset.random(seed=augment_seed, rerandomize_each_iteration=True).batch(2)


# Independent streams of one run's seed: the data order and the augmentation.
ORDER_STREAM, AUGMENT_STREAM = 0, 1


def epoch_seed(seed, stream, epoch):
    """The stateless `[2]` seed of `stream` in epoch `epoch` of a run seeded `seed`."""
    base = tf.constant([seed, stream], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(epoch, tf.int64))


def _epoch_order(size, shuffle_seed, epoch, passes=1):
    """Row indices for one epoch: `passes` runs over `[0, size)`, each a fresh
    stateless shuffle drawn from (shuffle_seed, epoch, pass) (in order without a seed)."""
    index = tf.range(size, dtype=tf.int64)
    if shuffle_seed is None:
        return tf.tile(index, [passes])
    seed = epoch_seed(shuffle_seed, ORDER_STREAM, epoch)
    return tf.concat([tf.random.experimental.stateless_shuffle(
        index, seed if p == 0 else tf.random.experimental.stateless_fold_in(seed, p)) for p in range(passes)], 0)


def epoch_rows(size, epoch, shuffle_seed=None):
    """Row indices `[0, size)` for the epoch `epoch` holds when iterated,
    shuffled by (shuffle_seed, epoch) (see `epoch_batches`), one by one."""
    ds = tf.data.Dataset.range(1).flat_map(
        lambda _: tf.data.Dataset.from_tensor_slices(_epoch_order(size, shuffle_seed, epoch.read_value())))
    return ds.apply(tf.data.experimental.assert_cardinality(size))


def epoch_batches(size, batch_size, epoch, shuffle_seed=None, augment_seed=None, steps=None):
    """Batches of row indices `[0, size)` for the epoch `epoch` holds when iterated.

    With `shuffle_seed` the rows are in the order of a stateless shuffle drawn
    from (shuffle_seed, epoch); with `augment_seed` each batch also carries a
    `[2]` seed drawn from (augment_seed, epoch, batch index). Either is a
    function of the epoch number only, not of how often the dataset was
    iterated before, so a run resumed at epoch k reads epoch k's batches.

    Args:
        size: rows.
        batch_size: rows a batch (the last one may be smaller).
        epoch: an int64 `tf.Variable` set to the epoch before each iteration
            (`training.epochs.EpochCounter`); read once as an iteration starts.
        shuffle_seed: shuffle with this seed; None keeps the rows in order.
        augment_seed: add a per-batch augmentation seed from this seed.
        steps: an epoch of exactly `steps` full batches instead of one pass
            over the rows (a "random mini-batch" protocol), taken from as many
            fresh shuffles of the rows as they need.
    """
    passes = 1 if not steps else max(1, -(-steps * batch_size // max(size, 1)))

    def batches(_):
        current = epoch.read_value()
        ds = tf.data.Dataset.from_tensor_slices(_epoch_order(size, shuffle_seed, current, passes))
        ds = ds.batch(batch_size, drop_remainder=bool(steps))
        if steps:
            ds = ds.take(steps)
        if augment_seed is not None:
            seeds = epoch_seed(augment_seed, AUGMENT_STREAM, current)
            ds = ds.enumerate().map(
                lambda b, rows: (rows, tf.random.experimental.stateless_fold_in(seeds, b)))
        return ds

    # One element whose flat_map reads the epoch as the iteration starts.
    ds = tf.data.Dataset.range(1).flat_map(batches)
    count = steps if steps and size else -(-size // batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(count))


def array_dataset(arrays, batch_size, epoch, shuffle_seed=None, steps=None):
    """Batches of the rows of `arrays` (a nest of arrays with one row per
    first index, e.g. `(features, targets)`) in the order `epoch_batches`
    draws from (shuffle_seed, epoch): `Model.fit(x, y, shuffle=True)`'s
    batches, but resumable."""
    tensors = tf.nest.map_structure(tf.convert_to_tensor, arrays)
    size = int(tf.nest.flatten(tensors)[0].shape[0])
    ds = epoch_batches(size, batch_size, epoch, shuffle_seed, steps=steps)
    ds = ds.map(lambda index: tf.nest.map_structure(lambda t: tf.gather(t, index), tensors),
                num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def meme_dataset(frame, *, modalities, batch_size, num_classes=None, vectorizer=None,
                 image_size=128, label_column="label", targets=None, shuffle_seed=None,
                 augment=None, augment_seed=0, raw_text_column=None, epoch=None, steps=None):
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
        epoch: the epoch variable of a `training.epochs.EpochCounter` among
            the fit's callbacks: each epoch's order and augmentation seeds are
            then drawn from (seed, epoch) (`epoch_batches`), so a resumed run
            trains on the batches an uninterrupted one does. Without it they
            are drawn anew at every iteration, from the dataset's own state.
        steps: with `epoch`, epochs of exactly this many full batches (see
            `epoch_batches`).
    """
    columns = {"text": frame["text"].astype(str).to_numpy()}
    if "image" in modalities:
        columns["image_path"] = frame["image_path"].to_numpy()
    if raw_text_column:
        columns["raw_text"] = frame[raw_text_column].astype(str).to_numpy()
    if targets is not None:
        targets = np.asarray(targets, dtype="float32")
        if len(targets) != len(frame):
            raise ValueError(f"{len(targets)} targets for {len(frame)} rows")
        rows = (columns, targets)
    elif num_classes is not None:
        rows = (columns, _one_hot(frame[label_column], num_classes))
    else:
        rows = (columns,)
    augment = augment if "image" in modalities else None
    inputs = batch_inputs(modalities, vectorizer, image_size, augment)
    if epoch is not None:
        rows = tf.nest.map_structure(tf.convert_to_tensor, rows)
        ds = epoch_batches(len(frame), batch_size, epoch, shuffle_seed, augment_seed if augment else None, steps)
        # One call a batch: its rows gathered, then turned into model inputs.
        ds = ds.map(lambda index, *seed: inputs(*tf.nest.map_structure(lambda t: tf.gather(t, index), rows), *seed),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds.prefetch(AUTOTUNE)
    ds = tf.data.Dataset.from_tensor_slices(rows)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(frame), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment is not None:
        ds = tf.data.Dataset.zip(ds, augment_seeds(augment_seed))
        ds = ds.map(lambda batch, seed: inputs(*batch, seed), num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(inputs, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def token_dataset(token_ids, labels, *, num_classes, batch_size, shuffle_seed=None, epoch=None):
    """Batches of ({"token_ids"}, one-hot label) from already-vectorised text,
    e.g. after GMM oversampling; `shuffle_seed` and `epoch` as in `meme_dataset`."""
    rows = ({"token_ids": token_ids}, _one_hot(labels, num_classes))
    if epoch is not None:
        return array_dataset(rows, batch_size, epoch, shuffle_seed)
    ds = tf.data.Dataset.from_tensor_slices(rows)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
