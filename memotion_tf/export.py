"""SavedModels that take raw inputs and need no project code to serve.

Every exported model has one `serving_default` signature:

    text:  tf.string [batch]   the meme text (ignored by image-only models)
    image: tf.string [batch]   encoded image bytes, JPEG/PNG/BMP/GIF (ignored by text-only models)
    -> probabilities: float32 [batch, classes], label: tf.string [batch]

Multi-label models (`multi_label=True`) also return `predicted`: int32
[batch, classes], 1 where the probability reaches the threshold, and `label`
joins the predicted names with " | " (technique names contain commas).

The vectoriser and image decoder inside are the ones training used. The
SavedModel folder also holds `assets.extra/memotion_tf.json` (dataset, task,
class names, split), which `memotion-tf evaluate` reads.
"""

import json
import os

import keras
import tensorflow as tf

from memotion_tf.io import atomic_directory
from memotion_tf.preprocessing.image import decode_image

METADATA_FILE = os.path.join("assets.extra", "memotion_tf.json")
SIGNATURE = "serving_default"


TEXT_INPUTS = ("token_ids", "padding_mask", "segment_ids")
LABEL_SEPARATOR = " | "


def model_modalities(model):
    names = set(model.input.keys()) if isinstance(model.input, dict) else set()
    modalities = []
    if names & set(TEXT_INPUTS):
        modalities.append("text")
    if "image" in names:
        modalities.append("image")
    return tuple(modalities)


def export_classifier(model, path, *, class_names, metadata, vectorizer=None, image_size=None,
                      multi_label=False, threshold=0.5):
    """Write `model` with its preprocessing as a SavedModel at `path`, atomically.

    `vectorizer` is the text preprocessing training used: a `SequenceVectorizer`
    or a keras-hub preprocessor."""
    from memotion_tf.input_pipeline import text_inputs

    modalities = model_modalities(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if vectorizer is not None:
        archive.track(vectorizer)
    names = tf.constant(list(class_names))
    image_spec = tf.TensorSpec([image_size, image_size, 3], tf.float32) if image_size else None

    def serve(text, image):
        features = {}
        if "text" in modalities:
            features.update(text_inputs(vectorizer, text))
        if "image" in modalities:
            features["image"] = tf.map_fn(
                lambda b: decode_image(b, image_size), image, fn_output_signature=image_spec
            )
        probabilities = model(features, training=False)
        if not multi_label:
            return {"probabilities": probabilities, "label": tf.gather(names, tf.argmax(probabilities, -1))}
        predicted = tf.cast(probabilities >= threshold, tf.int32)
        chosen = tf.ragged.boolean_mask(tf.broadcast_to(names, tf.shape(probabilities)), predicted > 0)
        label = tf.strings.reduce_join(chosen, axis=-1, separator=LABEL_SEPARATOR)
        return {"probabilities": probabilities, "predicted": predicted, "label": label}

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
                    multi_label=multi_label, threshold=threshold if multi_label else None)
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
