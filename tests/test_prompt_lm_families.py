"""The prompt LM on any keras-hub causal-LM family (GPT-2, Qwen, BLOOM), chosen by
the preset: `PromptLM` equals keras-hub's own `CausalLM` forward pass, the
paper profile's Qwen2.5-0.5B builds offline at full size, and a tiny Qwen
prompt-tunes and exports with its tokenizer inside the SavedModel."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.datasets import danmu
from memotion_tf.export import load_exported
from memotion_tf.models.prompt_lm import (
    TINY_LMS, PromptLM, PromptScorer, causal_lm_backbone, export_prompt_scorer, lm_tokenizer)
from memotion_tf.training import memory
from tests.test_bilimeme_models import CHATS, LABELS, NAMES, TEMPLATE, detokenize, one_step

CAUSAL_LMS = {"gpt2": keras_hub.models.GPT2CausalLM, "qwen": keras_hub.models.QwenCausalLM,
              "bloom": keras_hub.models.BloomCausalLM}
TEXTS = ["".join(c.split()) for c in CHATS] + [TEMPLATE] + NAMES


@pytest.fixture(scope="module", params=sorted(TINY_LMS))
def family_lm(request):
    tokenizer = lm_tokenizer(family=request.param, texts=TEXTS)
    keras.utils.set_random_seed(0)
    backbone = causal_lm_backbone(family=request.param, vocabulary_size=tokenizer.vocabulary_size())
    return request.param, tokenizer, backbone


def test_prompt_lm_is_the_families_causal_lm_without_a_soft_prompt(family_lm):
    family, tokenizer, backbone = family_lm
    assert type(tokenizer).__name__ == TINY_LMS[family][1]
    inputs = {"token_ids": np.array([[1, 5, 9, 3], [1, 7, 0, 0]], "int32"),
              "padding_mask": np.array([[1, 1, 1, 1], [1, 1, 0, 0]], "int32")}
    reference = CAUSAL_LMS[family](backbone, preprocessor=None)(inputs)
    lm = PromptLM(backbone)
    np.testing.assert_allclose(lm(inputs), reference, atol=1e-5)
    assert lm.trainable_weights == [] and len(lm.non_trainable_weights) == len(backbone.weights)


def test_soft_prompt_is_the_only_trainable_weight_and_moves_the_logits(family_lm):
    family, tokenizer, backbone = family_lm
    lm = PromptLM(backbone, num_prompt_tokens=3, initializer_stddev=1.0)
    assert [w.path for w in lm.trainable_weights] == ["soft_prompt/embeddings"]
    inputs = {"token_ids": np.array([[1, 5, 9]], "int32"), "padding_mask": np.ones((1, 3), "int32")}
    logits = np.asarray(lm(inputs))
    assert logits.shape == (1, 3, backbone.vocabulary_size) and logits.dtype == np.float32
    assert not np.allclose(logits, np.asarray(PromptLM(backbone)(inputs)), atol=1e-4)


def test_chinese_text_is_one_token_per_character(family_lm):
    _, tokenizer, _ = family_lm
    ids = np.asarray(tokenizer("游戏画面"))
    assert len(ids) == 4
    assert detokenize(tokenizer, tf.constant([ids]))[0] == "游戏画面"


def test_tiny_qwen_prompt_tunes_and_exports_with_its_tokenizer(tmp_path):
    tokenizer = lm_tokenizer(family="qwen", texts=TEXTS)
    keras.utils.set_random_seed(0)
    backbone = causal_lm_backbone(family="qwen", vocabulary_size=tokenizer.vocabulary_size())
    lm = PromptLM(backbone, num_prompt_tokens=3)
    template = "[A]\n选项：动画，音乐舞蹈，知识，生活，影视\n答案："
    scorer = PromptScorer(lm, tokenizer, template, NAMES)
    # Qwen has no start token: sequences begin with its end-of-text separator.
    assert scorer.start_id == tokenizer.end_token_id
    before = lm.soft_prompt.embeddings.numpy().copy()
    one_step(lm, scorer.training_dataset(CHATS, LABELS, batch_size=4),
             loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert not np.array_equal(before, lm.soft_prompt.embeddings.numpy())

    expected = scorer.scores(CHATS, batch_size=3)
    path = str(tmp_path / "saved_model")
    export_prompt_scorer(scorer, path, class_names=danmu.MAIN_CATEGORIES, metadata={"system": "qwen"})
    serve, meta, _ = load_exported(path)
    out = serve(text=tf.constant(CHATS), image=tf.constant([b""] * len(CHATS)))
    np.testing.assert_allclose(out["log_likelihood"], expected, rtol=1e-5, atol=1e-4)
    # The SavedModel tokenises the raw chats itself (spaces removed: one token per character).
    assert out["text_tokens"].numpy().tolist() == [len("".join(c.split())) for c in CHATS]


def test_paper_lm_builds_offline_at_full_size():
    """The paper profile's Qwen2.5-0.5B: the architecture (494,032,768 weights)
    with an 8-token soft prompt in front, built without allocating its weights,
    and its offline tokenizer's ids index the full embedding."""
    with memory.abstract_build():
        backbone = causal_lm_backbone("qwen2.5_0.5b_en", random_init=True)
        lm = PromptLM(backbone, num_prompt_tokens=8)
    assert type(backbone).__name__ == "QwenBackbone"
    assert backbone.count_params() == 494_032_768
    assert lm.count_params() == 494_032_768 + 8 * 896
    tokenizer = lm_tokenizer("qwen2.5_0.5b_en", random_init=True, texts=TEXTS)
    assert type(tokenizer).__name__ == "QwenTokenizer"
    ids = np.asarray(tokenizer(TEMPLATE))
    assert 0 <= ids.min() and ids.max() < backbone.vocabulary_size


def test_unknown_lm_family_and_non_lm_preset_are_clear_errors():
    with pytest.raises(ValueError, match="unknown LM family"):
        causal_lm_backbone(family="pangu", vocabulary_size=10)
    with pytest.raises(ValueError, match="not a causal LM"):
        lm_tokenizer("bert_base_zh", random_init=True)


def test_mean_score_is_the_sum_over_the_answer_tokens(family_lm):
    _, tokenizer, backbone = family_lm
    lm = PromptLM(backbone)
    total = PromptScorer(lm, tokenizer, TEMPLATE, NAMES).scores(CHATS[:3])
    mean = PromptScorer(lm, tokenizer, TEMPLATE, NAMES, score="mean").scores(CHATS[:3])
    lengths = np.array([len(np.asarray(tokenizer(name))) for name in NAMES])
    np.testing.assert_allclose(mean, total / lengths, rtol=1e-5)
