"""SavedModels that take raw inputs and need no project code to serve.

Every exported model has one `serving_default` signature:

    text:  tf.string [batch]   the meme text (ignored by image-only models)
    image: tf.string [batch]   encoded image bytes, JPEG/PNG/BMP/GIF (ignored by text-only models)
    -> probabilities: float32 [batch, classes], label: tf.string [batch]

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


def model_modalities(model):
    names = set(model.input.keys()) if isinstance(model.input, dict) else set()
    return tuple(m for m, key in (("text", "token_ids"), ("image", "image")) if key in names)


def export_classifier(model, path, *, class_names, metadata, vectorizer=None, image_size=None):
    """Write `model` with its preprocessing as a SavedModel at `path`, atomically."""
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
            features["token_ids"] = vectorizer(text)
        if "image" in modalities:
            features["image"] = tf.map_fn(
                lambda b: decode_image(b, image_size), image, fn_output_signature=image_spec
            )
        probabilities = model(features, training=False)
        return {"probabilities": probabilities, "label": tf.gather(names, tf.argmax(probabilities, -1))}

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
        meta = dict(metadata, class_names=list(class_names), modalities=list(modalities))
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(meta, f, indent=2)
    return path


def load_exported(path):
    """(serving function, metadata) of an exported SavedModel."""
    loaded = tf.saved_model.load(path)
    with open(os.path.join(path, METADATA_FILE)) as f:
        meta = json.load(f)
    return loaded.signatures[SIGNATURE], meta, loaded
