"""The paper profile's models at full size, built offline with random weights.

Every architecture's `count_params()` is pinned to the size published for it:
keras-hub's preset metadata (`Backbone.presets[...]["metadata"]["params"]`,
the Kaggle checkpoints' sizes) and, for ResNet, Keras' own ResNet-50/101
without their top (23,587,712 and 42,658,176 weights at any input size).
The pins build each architecture inside `memory.abstract_build()` (shapes
without values: about a second each); BERT-base is also built for real and
run. Real random-weight builds of the others (up to 4 GB) are `large`.
"""

import gc

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.models import pretrained
from memotion_tf.models.pretrained import (
    PAPER_ARCHITECTURES, offline_tokenizer, paper_architecture, resnet_paper_architecture, text_backbone,
    text_preprocessor)
from memotion_tf.training import memory

# Published sizes (keras-hub preset metadata; Keras applications).
PUBLISHED = {
    "bert_base_en_uncased": 109_482_240,
    "bert_base_zh": 102_267_648,
    "roberta_base_en": 124_052_736,
    "gpt2_base_en": 124_439_808,
    "clip_vit_large_patch14": 427_616_770,
    "qwen2.5_0.5b_en": 494_032_768,
    "bloom_560m_multi": 559_214_592,
}
RESNET_PARAMS = {50: 23_587_712, 101: 42_658_176}


def _free():
    keras.backend.clear_session()
    gc.collect()


def test_every_written_architecture_has_its_published_size():
    assert set(PAPER_ARCHITECTURES) == set(PUBLISHED)
    for preset, spec in PAPER_ARCHITECTURES.items():
        assert spec.params == PUBLISHED[preset], preset
        # keras-hub publishes the same number for the preset it downloads.
        assert keras_hub.models.Backbone.presets[preset]["metadata"]["params"] == PUBLISHED[preset], preset


@pytest.mark.parametrize("preset", sorted(PUBLISHED))
def test_full_size_architecture_count_params(preset):
    with memory.abstract_build():
        backbone = paper_architecture(preset)
    assert type(backbone).__name__ == PAPER_ARCHITECTURES[preset].backbone
    assert backbone.count_params() == PUBLISHED[preset]


@pytest.mark.parametrize("depth", [50, 101])
def test_resnet_at_224_without_top(depth):
    with memory.abstract_build():
        backbone = resnet_paper_architecture(depth)
    assert backbone.input_shape == (None, 224, 224, 3)
    assert backbone.output_shape == (None, 7, 7, 2048)
    assert backbone.count_params() == RESNET_PARAMS[depth]


def _forward_inputs(backbone):
    if isinstance(backbone, keras_hub.models.CLIPBackbone):
        return {"images": np.random.default_rng(0).uniform(size=(1, 224, 224, 3)).astype("float32"),
                "token_ids": np.array([[49406, 320, 49407] + [49407] * 74], "int32")}
    inputs = {"token_ids": np.array([[5, 6, 7, 8]], "int32"), "padding_mask": np.ones((1, 4), "int32")}
    if "segment_ids" in backbone.input:
        inputs["segment_ids"] = np.zeros((1, 4), "int32")
    return inputs


@pytest.mark.large
@pytest.mark.parametrize("preset", sorted(PUBLISHED))
def test_full_size_random_weights_run(preset):
    """The real build: random weights of the preset's size, one forward pass."""
    keras.utils.set_random_seed(0)
    backbone = paper_architecture(preset)
    assert backbone.count_params() == PUBLISHED[preset]
    outputs = backbone(_forward_inputs(backbone))
    assert all(np.isfinite(np.asarray(o)).all() for o in tf.nest.flatten(outputs))
    del backbone, outputs
    _free()


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(pretrained.PresetError, match="bert_base_zh"):
        paper_architecture("bert_huge_xx")


@pytest.mark.parametrize("preset", ["bert_base_en_uncased", "bert_base_zh", "roberta_base_en",
                                    "clip_vit_large_patch14"])
def test_offline_tokenizer_has_the_preset_vocabulary_size(preset):
    spec = PAPER_ARCHITECTURES[preset]
    size = spec.config["text"]["vocabulary_size"] if preset.startswith("clip") else spec.config["vocabulary_size"]
    tokenizer = offline_tokenizer(preset)
    assert type(tokenizer).__name__ == spec.tokenizer
    assert tokenizer.vocabulary_size() == size
    ids = np.asarray(tokenizer(["好 meme, 游戏画面"])).ravel()
    assert ids.size and 0 <= ids.min() and ids.max() < size
    if preset.startswith("clip"):
        # CLIP pools at the largest id: its end token.
        assert tokenizer.end_token_id == size - 1
    if preset == "bert_base_zh":
        # One token per Chinese character, none unknown.
        ids = np.asarray(tokenizer("游戏画面"))
        assert len(ids) == 4 and tokenizer.token_to_id("[UNK]") not in ids


def test_full_size_bert_classifier_forward_from_raw_text():
    """The offline preprocessor feeds the full-size backbone: a BertClassifier
    on BERT-base gives one probability row per text."""
    from memotion_tf.models.bert_classifier import BertClassifier

    preprocessor = text_preprocessor("bert_base_en_uncased", sequence_length=16, random_init=True)
    backbone = text_backbone("bert_base_en_uncased", random_init=True)
    model = BertClassifier(backbone, num_classes=3)
    assert model.count_params() == PUBLISHED["bert_base_en_uncased"] + 768 * 3 + 3
    probabilities = np.asarray(model(preprocessor(["a meme", "another meme, longer"])))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    del model, backbone
    _free()


def test_roberta_preprocessor_feeds_roberta():
    preprocessor = text_preprocessor("roberta_base_en", sequence_length=8, random_init=True)
    features = preprocessor(["a meme"])
    assert set(features) == {"token_ids", "padding_mask"}
    assert np.asarray(features["token_ids"])[0, 0] == preprocessor.tokenizer.start_token_id == 0


def test_chinese_bert_row_builds_offline():
    """BiliMemeNet's Chinese BERT row at full size: bert_base_zh + a 6-class head,
    fed by an offline preprocessor of bert_base_zh's 21,128-entry vocabulary."""
    from memotion_tf.models.chinese_bert import chinese_bert_classifier, chinese_bert_preprocessor

    with memory.abstract_build():
        model = chinese_bert_classifier(6, "bert_base_zh", random_init=True)
    assert model.count_params() == PUBLISHED["bert_base_zh"] + 768 * 6 + 6
    preprocessor = chinese_bert_preprocessor("bert_base_zh", sequence_length=8, random_init=True)
    assert preprocessor.tokenizer.vocabulary_size() == 21128
    assert np.asarray(preprocessor(["好吃 火锅"])["token_ids"]).max() < 21128
