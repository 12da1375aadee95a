"""SavedModels that take raw inputs and need no project code to serve.

Every exported model has one `serving_default` signature:

    text:  tf.string [batch]   the meme text (ignored by image-only models)
    image: tf.string [batch]   encoded image bytes, JPEG/PNG/GIF/BMP/WebP (ignored by text-only models)
    -> probabilities: float32 [batch, classes]
       label:         tf.string [batch]   the most probable class name
       error:         tf.string [batch]   "" or why the row has no prediction
       text_tokens:   int32 [batch]       the text's tokens before the model's length limit
                                          (-1 where the preprocessing cannot count them)

One bad image does not fail the batch: its row gets an `error` ("image: empty",
"image: unsupported format ...", "image: corrupt or truncated", "image: too
large: ..."), NaN probabilities and an empty label, and the other rows are
predicted as usual. An image is decoded only after its header showed a size
within the limits the model was exported with (`max_image_pixels`,
`max_image_bytes` in the metadata; `preprocessing.image.image_header`), so a
small file holding a huge picture costs nothing.
`text_tokens` above the metadata's `max_text_tokens` means the text was
truncated (`text_truncation`: "start" keeps the last tokens, "end" the first).

Multi-label models (`multi_label=True`) also return `predicted`: int32
[batch, classes], 1 where the probability reaches the threshold, and `label`
joins the predicted names with " | " (technique names contain commas).

The vectoriser and image decoder inside are the ones training used. The
SavedModel folder also holds `assets.extra/memotion_tf.json` (dataset, task,
class names, split, sequence length), which `memotion-tf evaluate` and
`memotion-tf predict` read.
"""

import json
import os

import keras
import tensorflow as tf

from memotion_tf.io import atomic_directory
from memotion_tf.preprocessing.image import (
    FORMATS, IMAGE_ERRORS, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, READABLE_FORMATS, decode_image, image_format,
    image_header,
)

METADATA_FILE = os.path.join("assets.extra", "memotion_tf.json")
SIGNATURE = "serving_default"


TEXT_INPUTS = ("token_ids", "padding_mask", "segment_ids")
LABEL_SEPARATOR = " | "


IMAGE_FORMATS = READABLE_FORMATS
# Leading bytes of the formats tf.io.decode_image reads: (offset, bytes) pairs that must all match.
_MAGIC = (
    ((0, b"\xff\xd8\xff"),),  # JPEG
    ((0, b"\x89PNG\r\n\x1a\n"),),
    ((0, b"GIF8"),),
    ((0, b"BM"),),
    ((0, b"RIFF"), (8, b"WEBP")),
    ((0, b"\xff\x0a"),),  # JPEG XL codestream
    ((0, b"\x00\x00\x00\x0cJXL "),),  # JPEG XL container
)


def image_errors(images, decoded):
    """Per-row error strings ("" where `decoded`) for a batch of image bytes."""
    padded = images + tf.constant(b"\x00" * 12)  # substr needs its offset inside the string
    known = tf.zeros_like(decoded)
    for parts in _MAGIC:
        match = tf.ones_like(decoded)
        for offset, magic in parts:
            match &= tf.equal(tf.strings.substr(padded, offset, len(magic)), magic)
        known |= match
    reason = tf.where(known, IMAGE_ERRORS["corrupt"], IMAGE_ERRORS["format"])
    reason = tf.where(tf.strings.length(images) > 0, reason, IMAGE_ERRORS["empty"])
    return tf.where(decoded, "", reason)


def _rows_through(images, fn, empty):
    """(row indices, fn(row) stacked) over the rows of `images` where `fn`
    does not raise: a graph op cannot catch an error, so the rows go through a
    tf.data pipeline with `ignore_errors`, keyed by row index."""
    count = tf.shape(images, out_type=tf.int64)[0]
    rows = tf.data.Dataset.from_tensor_slices((tf.range(count), images))
    rows = rows.map(lambda i, data: (i, fn(data)), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True).ignore_errors()
    return rows.batch(tf.maximum(count, 1)).reduce((tf.zeros([0], tf.int64), empty), lambda _, batch: batch)


def image_headers(images):
    """int64 [batch, 5]: `preprocessing.image.image_header` of each row; a
    row whose header raises (a corrupt JPEG header) keeps its format and -1s."""
    count = tf.shape(images, out_type=tf.int64)[0]
    index, headers = _rows_through(images, image_header, tf.zeros([0, 5], tf.int64))
    fmt = tf.cast(image_format(images), tf.int64)
    unknown = tf.concat([fmt[:, None], tf.fill(tf.stack([count, 4]), tf.constant(-1, tf.int64))], 1)
    return tf.tensor_scatter_nd_update(unknown, index[:, None], headers)


def limit_errors(images, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES):
    """Per-row error strings ("" where the image may be decoded) from the
    bytes' length and header alone: an empty row, a format the header reader
    does not know (or JPEG XL), a header whose size cannot be read, more
    bytes than `max_bytes` or more pixels than `max_pixels` (None: no limit)."""
    fmt, width, height, frames, pixels = tf.unstack(image_headers(images), axis=1)
    length = tf.cast(tf.strings.length(images), tf.int64)
    pixel_limit = tf.constant(-1 if max_pixels is None else max_pixels, tf.int64)
    byte_limit = tf.constant(-1 if max_bytes is None else max_bytes, tf.int64)
    size = tf.strings.join([tf.strings.as_string(width), " x ", tf.strings.as_string(height)])
    size = tf.where(frames > 1, tf.strings.join([size, " x ", tf.strings.as_string(frames), " frames"]), size)
    too_many_pixels = tf.strings.join([IMAGE_ERRORS["too_large"], ": ", size, " pixels = ",
                                       tf.strings.as_string(pixels), f", over the limit of {max_pixels}"])
    too_many_bytes = tf.strings.join([IMAGE_ERRORS["too_large"], ": a file of ", tf.strings.as_string(length),
                                      f" bytes, over the limit of {max_bytes}"])
    error = tf.fill(tf.shape(images), "")
    error = tf.where((pixel_limit >= 0) & (pixels > pixel_limit), too_many_pixels, error)
    error = tf.where(pixels < 0, IMAGE_ERRORS["corrupt"], error)
    unknown = tf.equal(fmt, 0) | tf.equal(fmt, FORMATS.index("JPEG XL"))
    error = tf.where(unknown, IMAGE_ERRORS["format"], error)
    error = tf.where((byte_limit >= 0) & (length > byte_limit), too_many_bytes, error)
    return tf.where(tf.equal(length, 0), IMAGE_ERRORS["empty"], error)


def decode_images(images, image_size, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES, crop=False):
    """Decode a batch of image bytes that may hold bad ones (`crop`: see
    `preprocessing.image.decode_image`).

    Returns (images float32 [batch, size, size, 3], error tf.string [batch]):
    zeros and an error message where a row cannot be decoded. Rows whose
    header refuses them (`limit_errors`) are never decoded. A graph op
    cannot catch a decoding error, so the other rows go through a tf.data
    pipeline with `ignore_errors` (`_rows_through`) and are put back in order."""
    count = tf.shape(images, out_type=tf.int64)[0]
    refused = limit_errors(images, max_pixels, max_bytes)
    # A refused row goes to the decoder as an empty string, which fails at once.
    allowed = tf.where(tf.equal(refused, ""), images, "")
    index, decoded = _rows_through(allowed, lambda data: decode_image(data, image_size, max_pixels=None,
                                                                      max_bytes=None, crop=crop),
                                   tf.zeros([0, image_size, image_size, 3]))
    index = index[:, None]
    shape = tf.stack([count, image_size, image_size, 3])
    ok = tf.scatter_nd(index, tf.ones_like(index[:, 0], tf.int32), count[None]) > 0
    return tf.scatter_nd(index, decoded, shape), tf.where(tf.equal(refused, ""), image_errors(images, ok), refused)


def text_limits(vectorizer):
    """How much of a text the model reads, for the metadata: the input
    `sequence_length`, `max_text_tokens` (without special tokens such as
    [CLS] and [SEP]) and which end truncation cuts (`text_truncation`).

    Token counts are known for a `SequenceVectorizer` and for a keras-hub
    tokeniser + packer that returns a `padding_mask` (BERT, RoBERTa); for other
    preprocessing there is no `max_text_tokens` and `text_tokens` is -1."""
    length = getattr(vectorizer, "sequence_length", None)
    if length is None:
        return {}
    length = int(length)
    if hasattr(vectorizer, "token_counts"):  # pad_sequences' truncating="pre"
        return {"sequence_length": length, "max_text_tokens": length, "text_truncation": "start"}
    from memotion_tf.input_pipeline import text_inputs

    packed = text_inputs(vectorizer, tf.constant([""])) if hasattr(vectorizer, "tokenizer") else {}
    if "padding_mask" not in packed:
        return {"sequence_length": length}
    specials = int(tf.reduce_sum(tf.cast(packed["padding_mask"], tf.int32)))
    return {"sequence_length": length, "max_text_tokens": length - specials, "text_truncation": "end"}


def text_token_counts(vectorizer, text, limits):
    """int32 [batch]: each text's tokens before truncation (in-vocabulary words
    for a `SequenceVectorizer`, tokeniser pieces for a keras-hub preprocessor),
    or -1 where `limits` (from `text_limits`) says they cannot be counted."""
    if "max_text_tokens" not in limits:
        return tf.fill(tf.shape(text), -1)
    if hasattr(vectorizer, "token_counts"):
        return vectorizer.token_counts(text)
    return tf.cast(tf.RaggedTensor.row_lengths(vectorizer.tokenizer(text)), tf.int32)


def _at_least_one_row(features, count):
    """Pad an empty batch with one row of zeros: convolutions fail on a batch
    of 0, and a caller may send one (the output is sliced back to `count`)."""
    pad = tf.cast(tf.equal(count, 0), tf.int32)

    def padded(value):
        zeros = tf.zeros(tf.concat([[pad], tf.shape(value)[1:]], 0), value.dtype)
        return tf.concat([value, zeros], 0)

    return {name: padded(value) for name, value in features.items()}


def model_modalities(model):
    names = set(model.input.keys()) if isinstance(model.input, dict) else set()
    modalities = []
    if names & set(TEXT_INPUTS):
        modalities.append("text")
    if "image" in names:
        modalities.append("image")
    return tuple(modalities)


def export_classifier(model, path, *, class_names, metadata, vectorizer=None, image_size=None,
                      multi_label=False, threshold=0.5, heads=None, max_image_pixels=MAX_IMAGE_PIXELS,
                      max_image_bytes=MAX_IMAGE_BYTES, crop=False):
    """Write `model` with its preprocessing as a SavedModel at `path`, atomically.

    `vectorizer` is the text preprocessing training used: a `SequenceVectorizer`
    or a keras-hub preprocessor. `heads` (Memotion tasks B and C): the
    `(label, number of classes)` blocks of a multi-head output; each block's
    most probable class goes into `label` ("humour=funny | sarcasm=general | ...").
    `max_image_pixels` and `max_image_bytes` are the serving side's image
    limits (None: none), kept in the metadata. `crop=True`: images are
    centre-cropped to a square before resizing, as training decoded them
    (`decode_image`); the metadata then says `"image_crop": "center"`."""
    from memotion_tf.input_pipeline import text_inputs

    modalities = model_modalities(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if vectorizer is not None:
        archive.track(vectorizer)
    names = tf.constant(list(class_names))
    limits = text_limits(vectorizer) if "text" in modalities else {}

    def serve(text, image):
        features = {}
        count = tf.shape(text)[0]
        error = tf.fill([count], "")
        tokens = tf.zeros([count], tf.int32)
        if "text" in modalities:
            features.update(text_inputs(vectorizer, text))
            tokens = text_token_counts(vectorizer, text, limits)
        if "image" in modalities:
            features["image"], error = decode_images(image, image_size, max_image_pixels, max_image_bytes,
                                                     crop=crop)
        ok = tf.equal(error, "")
        probabilities = model(_at_least_one_row(features, count), training=False)[:count]
        probabilities = tf.where(ok[:, None], probabilities, tf.fill(tf.shape(probabilities), float("nan")))
        out = {"probabilities": probabilities, "error": error, "text_tokens": tokens}
        if heads:
            parts, start = [], 0
            for _, size in heads:
                block = probabilities[:, start:start + size]
                parts.append(tf.gather(names, start + tf.argmax(block, -1, output_type=tf.int32)))
                start += size
            label = tf.strings.reduce_join(tf.stack(parts, axis=1), axis=-1, separator=LABEL_SEPARATOR)
            return dict(out, label=tf.where(ok, label, ""))
        if not multi_label:
            return dict(out, label=tf.where(ok, tf.gather(names, tf.argmax(probabilities, -1)), ""))
        predicted = tf.cast(probabilities >= threshold, tf.int32)
        chosen = tf.ragged.boolean_mask(tf.broadcast_to(names, tf.shape(probabilities)), predicted > 0)
        label = tf.strings.reduce_join(chosen, axis=-1, separator=LABEL_SEPARATOR)
        return dict(out, predicted=predicted, label=label)

    archive.add_endpoint(
        SIGNATURE,
        serve,
        input_signature=[
            tf.TensorSpec([None], tf.string, name="text"),
            tf.TensorSpec([None], tf.string, name="image"),
        ],
    )
    with atomic_directory(path) as tmp:
        archive.write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        meta = dict(metadata, class_names=list(class_names), modalities=list(modalities),
                    multi_label=multi_label, threshold=threshold if multi_label else None,
                    heads=[[name, int(size)] for name, size in heads] if heads else None)
        meta.update(limits)
        if "image" in modalities:
            meta.update(max_image_pixels=max_image_pixels, max_image_bytes=max_image_bytes)
        if crop:
            meta["image_crop"] = "center"
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(meta, f, indent=2)
    return path


def load_exported(path):
    """(serving function, metadata) of an exported SavedModel.

    keras-hub's WordPiece and BPE tokenisers run TensorFlow Text ops, so a
    SavedModel of a BERT-style model needs `import tensorflow_text` before
    `tf.saved_model.load` (a TensorFlow library, not project code)."""
    import tensorflow_text  # noqa: F401  (registers the tokenisers' ops)

    loaded = tf.saved_model.load(path)
    with open(os.path.join(path, METADATA_FILE)) as f:
        meta = json.load(f)
    return loaded.signatures[SIGNATURE], meta, loaded
