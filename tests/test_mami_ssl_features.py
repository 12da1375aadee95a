"""CLIP features for the semi-supervised MAMI paper: the offline tokenizer, the
in-graph text cleaning, the feature model and the on-disk feature cache."""

import os

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.datasets.mami import clean_mami_text, read_mami
from memotion_tf.features import clip
from memotion_tf.preprocessing.mami_text import clean_mami_text_tf
from tests import mami_ssl_helpers as helpers

# --- Tokenizer and text -------------------------------------------------------------


def test_byte_level_vocabulary_puts_the_end_token_last():
    vocabulary, merges = clip.byte_level_vocabulary()
    assert len(vocabulary) == 515 and merges == ["t h"]
    assert vocabulary["<|endoftext|>"] == max(vocabulary.values())  # CLIP pools at argmax(token_ids)
    assert vocabulary["<|startoftext|>"] == 513
    assert vocabulary["a"] == vocabulary["a</w>"] - 256


def test_vectorizer_packs_characters_between_start_and_end():
    extractor, vectorizer = helpers.tiny_feature_model()
    vocabulary, _ = clip.byte_level_vocabulary()
    ids = tf.function(vectorizer)(tf.constant(["Hi, HER!", "the"])).numpy()
    assert ids.shape == (2, helpers.SEQUENCE_LENGTH)
    # "Hi, HER!" is cleaned to "hi her": h, i</w>, h, e, r</w>.
    expected = [513, vocabulary["h"], vocabulary["i</w>"], vocabulary["h"], vocabulary["e"],
                vocabulary["r</w>"], 514]
    assert ids[0, :7].tolist() == expected and not ids[0, 7:].any()
    assert ids[1, :4].tolist() == [513, vocabulary["th"], vocabulary["e</w>"], 514]  # the one merge
    # The Python (eager) path of keras-hub's tokenizer agrees with the TF path.
    assert np.array_equal(vectorizer(tf.constant(["Hi, HER!", "the"])), ids)


CLEANING_CASES = [
    "see https://t.co/AbC123 now", "http://example.org/a?b=c end", "visit www.quickmeme.com/meme/1 ok",
    "1511 BestDemotivationalPosters.com CORN DOG", "made with imgflip.com", "IM GONNA SLAP ΟΤΗ SAN",
    "Café naïve …", "MiXeD CaSe", "don't stop", "don’t stop", "wait... what?!", "end.Next,word",
    "trust.me", "  many \t spaces\n here ", "", "a\x0bb\x1cc", "HTTP://X.COM/Y\xa0next",
    "email me@x.org [x] {y} a_b c\\d",
]


def test_tf_cleaning_equals_the_python_cleaning():
    texts = CLEANING_CASES + read_mami(helpers.mami_dir()).frame["raw_text"].tolist()
    cleaned = [s.decode() for s in clean_mami_text_tf(tf.constant(texts)).numpy()]
    assert cleaned == [clean_mami_text(t) for t in texts]
    # Idempotent, so cleaned training text and raw serving text meet the same tokens.
    again = [s.decode() for s in clean_mami_text_tf(tf.constant(cleaned)).numpy()]
    assert again == cleaned


# --- The feature model --------------------------------------------------------------


def test_extractor_gives_unit_embeddings_of_each_modality():
    extractor, vectorizer = helpers.tiny_feature_model()
    frame = helpers.frame()
    features = clip.extract_features(frame, extractor, vectorizer, batch_size=8)
    width = clip.TINY_CLIP["projection_dim"]
    assert features["image_features"].shape == (len(frame), width)
    assert features["text_features"].shape == (len(frame), width)
    np.testing.assert_allclose(np.linalg.norm(features["image_features"], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(features["text_features"], axis=1), 1.0, atol=1e-5)
    # Different memes get different features in both modalities.
    assert np.unique(features["text_features"].round(5), axis=0).shape[0] > len(frame) // 2
    assert np.unique(features["image_features"].round(5), axis=0).shape[0] > len(frame) // 2


def test_tiny_clip_is_reproducible_from_its_seed():
    first, _ = helpers.tiny_feature_model(init_seed=3)
    second, _ = helpers.tiny_feature_model(init_seed=3)
    other, _ = helpers.tiny_feature_model(init_seed=4)
    assert clip.weights_digest(first) == clip.weights_digest(second)
    assert clip.weights_digest(first) != clip.weights_digest(other)


# --- The cache ----------------------------------------------------------------------


def test_feature_cache_hits_then_invalidates(tmp_path, monkeypatch):
    import shutil

    data_dir = str(tmp_path / "MAMI")
    shutil.copytree(helpers.mami_dir(24, 5, test_size=8), data_dir)
    frame = read_mami(data_dir, task="B").frame
    cache = str(tmp_path / "features")
    spec = {"preset": "", "init_seed": 0}
    extractor, vectorizer = helpers.tiny_feature_model()
    real_extract = clip.extract_features
    calls = []

    def counting_extract(frame, extractor, vectorizer, batch_size=32):
        calls.append(len(frame))
        return real_extract(frame, extractor, vectorizer, batch_size) if len(calls) == 1 else {
            "image_features": np.zeros((len(frame), 2), "float32"),
            "text_features": np.zeros((len(frame), 2), "float32")}

    monkeypatch.setattr(clip, "extract_features", counting_extract)

    def features(frame=frame, split="train", extractor=extractor, spec=spec):
        return clip.cached_clip_features(frame, split, cache, extractor, vectorizer, spec, batch_size=8)

    first, hit = features()
    assert not hit and calls == [24]
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].startswith("clip-train-") and files[0].endswith(".npz")

    # Second call: read from disk, the model is never called.
    again, hit = features()
    assert hit and calls == [24]
    np.testing.assert_array_equal(again["text_features"], first["text_features"])
    np.testing.assert_array_equal(again["image_features"], first["image_features"])

    # The split is part of the key.
    _, hit = features(split="test")
    assert not hit and len(calls) == 2 and len(os.listdir(cache)) == 2

    # A changed image file (size and mtime) invalidates the train file, which is replaced.
    path = frame["image_path"][3]
    with open(path, "ab") as f:
        f.write(b"\0")
    _, hit = features()
    assert not hit and len(calls) == 3
    assert files[0] not in os.listdir(cache) and len(os.listdir(cache)) == 2  # stale file deleted
    _, hit = features()
    assert hit and len(calls) == 3

    # So do a changed text, other weights and another model spec.
    edited = frame.copy()
    edited.loc[0, "text"] = edited.loc[0, "text"] + " extra"
    assert not features(frame=edited)[1]
    other, _ = helpers.tiny_feature_model(init_seed=1)
    assert not features(extractor=other)[1]
    assert not features(spec={"preset": "", "init_seed": 1})[1]
    assert len(calls) == 6


def test_cache_file_holding_another_key_or_garbage_is_not_trusted(tmp_path):
    key = {"a": 1}
    path = str(tmp_path / "clip-train-x.npz")
    clip.store_cached(path, {"a": 2}, {"image_features": np.zeros((1, 2)), "text_features": np.zeros((1, 2))},
                      ["1.jpg"])
    assert clip.load_cached(path, key) is None
    assert clip.load_cached(path, {"a": 2})["image_features"].shape == (1, 2)
    with open(path, "wb") as f:
        f.write(b"PK\x03\x04 truncated")
    assert clip.load_cached(path, {"a": 2}) is None  # recomputed, never trusted


def test_build_clip_rejects_bad_sizes():
    with pytest.raises(ValueError, match="multiple of patch_size"):
        clip.build_clip("", image_size=20, sequence_length=16)
    with pytest.raises(ValueError, match="unknown tiny CLIP"):
        clip.build_clip("", image_size=16, sequence_length=16, layers=3)
