"""CLIP image and text embeddings from keras-hub, extracted once and cached on disk.

    raw text --clean--> CLIPTokenizer -> StartEndPacker -> token_ids --\
                                                                         CLIPFeatureExtractor
    image bytes -> decode -> [0, 1] float, square --------------> image -/   -> F_image, F_text

What is used:
- `PROFILE=paper`: `keras_hub.models.CLIPBackbone.from_preset("clip_vit_large_patch14")`
  and its `CLIPTokenizer` (downloaded by keras-hub on first use).
- The embedded default and the tests: a small randomly initialised CLIP
  (`TINY_CLIP`, seeded by `init_seed`) with an offline **byte-level BPE
  vocabulary**: the 256 byte symbols of GPT-2/CLIP's byte-to-unicode table,
  each also in its word-final form `<symbol></w>`, one merge rule (`t h`;
  keras-hub's TensorFlow BPE path cannot build an empty merge table) and the
  start/end tokens last, so that the end token has the largest id as CLIP's
  EOS pooling expects (515 ids). A word is therefore tokenised character by
  character. Features from random weights only exercise the machinery; they
  say nothing about CLIP on MAMI.

F_image and F_text (the slides' H_image[0] and H_text[EOS]) are taken as CLIP's
image and text *embeddings*: the pooled class/EOS token through CLIP's
projection into the shared space (`get_vision_embeddings`,
`get_text_embeddings`), so that both modalities have the same width and the
cross-modal autoencoders map one space onto the other. With `normalize=True`
(default) they are L2-normalised, as CLIP compares them.

Images follow the project convention: decoded, resized to a square
`image_size` with bilinear interpolation and scaled to [0, 1] outside the model
(`preprocessing.image.decode_image`); CLIP's per-channel mean/std
normalisation is the first layer of `CLIPFeatureExtractor`, so an exported
SavedModel serves raw bytes. The paper resizes to 768x768 "to fit the
pretrained model", which ViT-L/14 (224x224 input) does not take: we use the
backbone's own input size.

An exported SavedModel tokenises inside the graph with keras-hub's BPE, which
uses a TensorFlow Text op: `import tensorflow_text` before `tf.saved_model.load`.

Cache (`cached_clip_features`): one `.npz` per split, written atomically, named
by the SHA-256 of a key made of
- the model: preset, image size, sequence length, normalisation, the tiny
  config and init seed, a digest of every weight and of the tokenizer's
  vocabulary and merges;
- the data: every row's image name, file size and modification time (ns),
  and a digest of the texts fed to the tokenizer;
- the split name ("train" = all of TRAINING, "test").
Any change gives a new key, so a stale file is never read; it is deleted when
the new one is written. The stored key is compared on load as well.
"""

import hashlib
import json
import logging
import os
import zipfile

import keras
import keras_hub
import numpy as np
from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode
from keras_hub.src.utils.tensor_utils import preprocessing_function

from memotion_tf.io import atomic_write_bytes
from memotion_tf.models.bert_classifier import BackboneModel

log = logging.getLogger("memotion_tf")

PAPER_PRESET = "clip_vit_large_patch14"
# OpenAI CLIP's image normalisation (keras-hub's CLIPImageConverter uses the same).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# A randomly initialised CLIP small enough for a unit test on a CPU.
TINY_CLIP = {
    "patch_size": 8,
    "vision_hidden_dim": 32,
    "vision_layers": 2,
    "vision_heads": 2,
    "vision_intermediate_dim": 64,
    "text_hidden_dim": 32,
    "text_layers": 2,
    "text_heads": 2,
    "text_intermediate_dim": 64,
    "projection_dim": 32,
}
CACHE_FORMAT = 1
STANDARDIZERS = (None, "mami_clean")


# --------------------------------------------------------------------------
# Tokenizer and text vectorizer.
# --------------------------------------------------------------------------


def byte_level_vocabulary():
    """(vocabulary, merges) of the offline tokenizer of the tiny CLIP."""
    _, symbols = bytes_to_unicode()
    vocabulary = {}
    for symbol in symbols:
        vocabulary[symbol] = len(vocabulary)
    for symbol in symbols:
        vocabulary[symbol + "</w>"] = len(vocabulary)
    merges = ["t h"]
    vocabulary["th"] = len(vocabulary)
    vocabulary["<|startoftext|>"] = len(vocabulary)
    vocabulary["<|endoftext|>"] = len(vocabulary)  # the largest id: CLIP pools at argmax
    return vocabulary, merges


@keras.saving.register_keras_serializable(package="memotion_tf")
class CLIPTextVectorizer(keras_hub.models.Preprocessor):
    """Strings -> int32 `[batch, sequence_length]` CLIP token ids.

    Optionally cleans the text first (`standardize="mami_clean"`: the MAMI
    paper's cleaning as TF ops), then tokenises with a `CLIPTokenizer` and
    packs `<|startoftext|> tokens <|endoftext|>`, truncating and padding with
    the tokenizer's pad id, as `keras_hub.models.CLIPPreprocessor` does for
    text.

    Args:
        tokenizer: a `keras_hub.models.CLIPTokenizer`.
        sequence_length: packed length (CLIP: 77).
        standardize: None, or "mami_clean".
    """

    def __init__(self, tokenizer, sequence_length=77, standardize=None, **kwargs):
        super().__init__(**kwargs)
        if standardize not in STANDARDIZERS:
            raise ValueError(f"standardize must be one of {STANDARDIZERS}, got {standardize!r}")
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.standardize = standardize
        self.packer = None

    def build(self, input_shape):
        self.packer = keras_hub.layers.StartEndPacker(
            start_value=self.tokenizer.start_token_id,
            end_value=self.tokenizer.end_token_id,
            pad_value=self.tokenizer.pad_token_id,
            sequence_length=self.sequence_length,
            return_padding_mask=False,
        )
        self.built = True

    @preprocessing_function
    def call(self, x):
        if self.standardize == "mami_clean":
            from memotion_tf.preprocessing.mami_text import clean_mami_text_tf

            x = clean_mami_text_tf(x)
        return self.packer(self.tokenizer(x))

    def get_config(self):
        config = super().get_config()
        config.update(sequence_length=self.sequence_length, standardize=self.standardize)
        return config


# --------------------------------------------------------------------------
# The feature model.
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="memotion_tf")
class CLIPFeatureExtractor(BackboneModel):
    """CLIP image and text embeddings of a meme.

    Inputs: `{"token_ids": int32 [batch, seq], "image": float32 [batch, s, s, 3] in [0, 1]}`.
    Outputs: `{"image_features": [batch, d], "text_features": [batch, d]}`.

    Args:
        backbone: a `keras_hub.models.CLIPBackbone`.
        normalize: L2-normalise both embeddings.

    Example:
    >>> backbone, tokenizer = build_clip("", image_size=32, sequence_length=32)
    >>> extractor = CLIPFeatureExtractor(backbone)
    """

    def __init__(self, backbone, normalize=True, **kwargs):
        image_size = backbone.vision_encoder.image_shape[0]
        # === Layers ===
        self.backbone = backbone
        self.image_normalization = keras.layers.Normalization(
            mean=list(CLIP_MEAN), variance=[s * s for s in CLIP_STD], name="clip_image_normalization"
        )
        # The outputs are float32 under a mixed precision policy: the L2
        # normalisation itself (a sum of squares) or a cast when there is none.
        self.l2_normalize = (keras.layers.UnitNormalization(axis=-1, dtype="float32", name="l2_normalize")
                             if normalize else keras.layers.Activation("linear", dtype="float32", name="float32"))

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        image = keras.Input(shape=(image_size, image_size, 3), name="image")
        image_features = backbone.get_vision_embeddings(self.image_normalization(image))
        text_features = backbone.get_text_embeddings(token_ids)
        image_features = self.l2_normalize(image_features)
        text_features = self.l2_normalize(text_features)
        super().__init__(
            inputs={"token_ids": token_ids, "image": image},
            outputs={"image_features": image_features, "text_features": text_features},
            **kwargs,
        )

        # === Config ===
        self.image_size = image_size
        self.normalize = normalize
        self.feature_dim = backbone.projection_dim

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "normalize": self.normalize,
            "name": self.name,
            "trainable": self.trainable,
        }


def tiny_clip_backbone(image_size, sequence_length, vocabulary_size, **tiny_args):
    unknown = set(tiny_args) - set(TINY_CLIP)
    if unknown:
        raise ValueError(f"unknown tiny CLIP argument(s) {sorted(unknown)}; known: {sorted(TINY_CLIP)}")
    args = dict(TINY_CLIP, **tiny_args)
    if image_size % args["patch_size"]:
        raise ValueError(f"image_size {image_size} is not a multiple of patch_size {args['patch_size']}")
    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=args["patch_size"], hidden_dim=args["vision_hidden_dim"],
        num_layers=args["vision_layers"], num_heads=args["vision_heads"],
        intermediate_dim=args["vision_intermediate_dim"], image_shape=(image_size, image_size, 3),
    )
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=vocabulary_size, embedding_dim=args["text_hidden_dim"],
        hidden_dim=args["text_hidden_dim"], num_layers=args["text_layers"],
        num_heads=args["text_heads"], intermediate_dim=args["text_intermediate_dim"],
        max_sequence_length=sequence_length,
    )
    return keras_hub.models.CLIPBackbone(vision, text, projection_dim=args["projection_dim"])


def build_clip(preset="", *, image_size, sequence_length, init_seed=0, random_init=False, **tiny_args):
    """(CLIPBackbone, CLIPTokenizer): `from_preset(preset)`; with `random_init`
    the preset's full-size architecture with weights seeded by `init_seed` and
    an offline tokenizer of the preset's vocabulary size
    (`models.pretrained.paper_architecture` / `offline_tokenizer`, no download);
    with no preset the seeded tiny random CLIP and the offline byte-level tokenizer."""
    if preset:
        if random_init:
            from memotion_tf.models.pretrained import offline_tokenizer, paper_architecture

            keras.utils.set_random_seed(init_seed)
            backbone, tokenizer = paper_architecture(preset), offline_tokenizer(preset)
        else:
            backbone = keras_hub.models.CLIPBackbone.from_preset(preset)
            tokenizer = keras_hub.models.CLIPTokenizer.from_preset(preset)
        expected = backbone.vision_encoder.image_shape[0]
        if image_size != expected:
            raise ValueError(f"preset {preset!r} takes {expected}x{expected} images; "
                             f"set image_size = {expected}")
        return backbone, tokenizer
    vocabulary, merges = byte_level_vocabulary()
    tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    keras.utils.set_random_seed(init_seed)
    backbone = tiny_clip_backbone(image_size, sequence_length, len(vocabulary), **tiny_args)
    return backbone, tokenizer


# --------------------------------------------------------------------------
# Extraction and the on-disk cache.
# --------------------------------------------------------------------------


def extract_features(frame, extractor, vectorizer, batch_size=32):
    """{"image_features", "text_features"} float32 arrays, one row per meme of
    `frame` (columns `text`, `image_path`), through the training input pipeline."""
    from memotion_tf.input_pipeline import meme_dataset

    ds = meme_dataset(frame, modalities=("text", "image"), batch_size=batch_size,
                      vectorizer=vectorizer, image_size=extractor.image_size)
    out = extractor.predict(ds, verbose=0)
    return {k: np.asarray(out[k], dtype="float32") for k in ("image_features", "text_features")}


def _sha256(chunks):
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def weights_digest(model):
    """SHA-256 over every weight's name, shape and bytes (memoised on the model)."""
    cached = getattr(model, "_memotion_weights_digest", None)
    if cached is None:
        def chunks():
            for w in model.weights:
                value = np.ascontiguousarray(keras.ops.convert_to_numpy(w))
                yield f"{w.path}:{value.dtype}:{value.shape}"
                yield value.tobytes()
        cached = _sha256(chunks())
        model._memotion_weights_digest = cached
    return cached


def tokenizer_digest(tokenizer):
    return _sha256([json.dumps(dict(tokenizer.vocabulary), sort_keys=True),
                    json.dumps([str(m) for m in tokenizer.merges])])


def data_digest(frame):
    """Image names with file size and mtime, and the texts, row by row."""
    def files():
        for name, path in zip(frame["image_name"], frame["image_path"]):
            stat = os.stat(path)
            yield f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}"
    return {"rows": int(len(frame)), "files_sha256": _sha256(files()),
            "texts_sha256": _sha256(frame["text"].astype(str))}


def feature_key(extractor, vectorizer, frame, split, model_spec):
    """The dict that names a cached feature file (see the module docstring).

    `model_spec` is what identifies the model beyond its weights (preset, tiny
    config, init seed, ...)."""
    return {
        "format": CACHE_FORMAT,
        "model": dict(model_spec, image_size=int(extractor.image_size), normalize=bool(extractor.normalize),
                      sequence_length=int(vectorizer.sequence_length), standardize=vectorizer.standardize,
                      weights_sha256=weights_digest(extractor),
                      tokenizer_sha256=tokenizer_digest(vectorizer.tokenizer)),
        "data": data_digest(frame),
        "split": split,
    }


def key_digest(key):
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:24]


def cache_path(cache_dir, split, key):
    return os.path.join(cache_dir, f"clip-{split}-{key_digest(key)}.npz")


def load_cached(path, key):
    """The cached arrays at `path` if it exists and holds `key`, else None."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != json.dumps(key, sort_keys=True):
                log.warning("feature cache %s holds another key; recomputing", path)
                return None
            return {k: data[k] for k in ("image_features", "text_features")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        log.warning("feature cache %s is unreadable (%s); recomputing", path, e)
        return None


def store_cached(path, key, features, image_names):
    """Write the arrays atomically and delete stale files of the same split."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, key=np.asarray(json.dumps(key, sort_keys=True)),
             image_names=np.asarray([str(n) for n in image_names]), **features)
    atomic_write_bytes(path, buffer.getvalue())
    folder, name = os.path.split(path)
    prefix = name[: name.rindex("-") + 1]
    for other in os.listdir(folder):
        if other.startswith(prefix) and other.endswith(".npz") and other != name:
            os.remove(os.path.join(folder, other))


def cached_clip_features(frame, split, cache_dir, extractor, vectorizer, model_spec, batch_size=32):
    """(features, hit): the split's CLIP features from the cache, or extracted
    (once) and cached. `hit` says whether the model was skipped."""
    key = feature_key(extractor, vectorizer, frame, split, model_spec)
    path = cache_path(cache_dir, split, key)
    features = load_cached(path, key)
    if features is not None:
        log.info("CLIP features of %d %s memes read from %s", len(frame), split, path)
        return features, True
    log.info("extracting CLIP features of %d %s memes", len(frame), split)
    features = extract_features(frame, extractor, vectorizer, batch_size=batch_size)
    os.makedirs(cache_dir, exist_ok=True)
    store_cached(path, key, features, frame["image_name"])
    log.info("cached to %s", path)
    return features, False
