"""BiliMemeNet's models: the linear baseline's shape, Chinese BERT on a computed
WordPiece vocabulary, the GPT-2 prompt LM and soft prompt, the candidate
scoring, and for each system one training step and a SavedModel whose outputs
equal the in-memory model's."""

import os

import keras
import keras_hub
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from memotion_tf.datasets import danmu
from memotion_tf.export import export_classifier, load_exported
from memotion_tf.input_pipeline import meme_dataset
from memotion_tf.models.bert_classifier import BertClassifier
from memotion_tf.models.chinese_bert import chinese_bert_classifier, chinese_bert_preprocessor
from memotion_tf.models.linear_baseline import BagOfWords, LinearBaseline
from memotion_tf.models.prompt_lm import (
    PromptLM, PromptScorer, SoftPrompt, export_prompt_scorer, gpt2_backbone, split_template)
from memotion_tf.preprocessing.text import SequenceVectorizer
from memotion_tf.preprocessing.vocabularies import (
    byte_level_vocabulary, gpt2_tokenizer_from_texts, word_piece_vocabulary)
from tests.test_case import TestCase

CHATS = ["游戏 画面 好看", "上分 抽卡", "好吃 火锅", "手机 芯片 科技", "前方 高能", "做饭 美食 下饭",
         "awsl 2333", "科普 涨知识"]
LABELS = [1, 1, 4, 2, 5, 4, 5, 2]
TEMPLATE = "网络语言分类：[A]\n选项：动画，音乐舞蹈，知识，生活，影视\n答案："
NAMES = ["动画", "音乐舞蹈", "知识", "生活", "影视"]
TINY_BERT = {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32}
TINY_GPT2 = {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32, "dropout": 0.0}


def detokenize(tokenizer, ids):
    """Eager keras-hub detokenisation returns Python strings."""
    out = tokenizer.detokenize(ids)
    return [t.decode() if isinstance(t, bytes) else str(t) for t in out]


def chat_frame(texts=CHATS, labels=LABELS):
    return pd.DataFrame({"text": list(texts), "label": list(labels), "image_path": ""})


def one_step(model, dataset, loss="categorical_crossentropy"):
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, metrics=[])
    history = model.fit(dataset.take(1), epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()


class LinearBaselineTest(TestCase):
    def test_paper_shape(self):
        # 4 x Dense 50 on a 1,000-word bag, then 6 classes:
        # 1000*50+50, 3 * (50*50+50), 50*6+6; the bag of words has no weights.
        model = LinearBaseline(1000, num_classes=6)
        self.assertEqual(model.count_params(), 50_050 + 3 * 2_550 + 306)
        dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
        self.assertEqual([l.units for l in dense], [50, 50, 50, 50, 6])
        slopes = [l.negative_slope for l in model.layers if isinstance(l, keras.layers.LeakyReLU)]
        self.assertAllClose(slopes, [0.1] * 4)
        names = [l.name for l in model.layers]
        self.assertEqual(names.index("dropout"), names.index("leaky_relu_2") + 1)  # in the middle
        self.assertEqual(dense[-1].activation, keras.activations.softmax)

    def test_bag_of_words_by_hand(self):
        ids = np.array([[2, 3, 3, 0], [0, 0, 0, 4]], "int32")
        self.assertAllClose(BagOfWords(5)(ids), [[0, 0, 1, 1, 0], [0, 0, 0, 0, 1]])
        self.assertAllClose(BagOfWords(5, output_mode="count")(ids), [[0, 0, 1, 2, 0], [0, 0, 0, 0, 1]])
        with self.assertRaisesRegex(ValueError, "output_mode"):
            BagOfWords(5, output_mode="tf_idf")

    def test_model_round_trip(self):
        ids = np.array([[0, 0, 2, 5], [3, 3, 4, 9], [0, 0, 0, 0], [1, 2, 3, 4]], "int32")
        self.run_model_test(LinearBaseline(10, sequence_length=4, units=4, num_classes=6),
                            {"token_ids": ids})

    def test_trains_a_step_and_exports(self):
        frame = chat_frame()
        vectorizer = SequenceVectorizer(sequence_length=8)
        vectorizer.adapt(frame["text"])
        model = LinearBaseline(vectorizer.vocabulary_size, sequence_length=8, units=8, num_classes=6)
        data = meme_dataset(frame, modalities=("text",), batch_size=4, num_classes=6, vectorizer=vectorizer)
        one_step(model, data)
        check_export(self, model, frame, vectorizer)


def check_export(test, model, frame, vectorizer):
    """SavedModel on raw (segmented) text == the in-memory model on the same
    text through the training pipeline."""
    expected = model.predict(meme_dataset(frame, modalities=("text",), batch_size=3, vectorizer=vectorizer),
                             verbose=0)
    path = os.path.join(test.get_temp_dir(), "saved_model")
    export_classifier(model, path, class_names=danmu.SIX_CLASSES, vectorizer=vectorizer,
                      metadata={"system": "test", "text_input": "jieba"})
    serve, meta, _ = load_exported(path)
    out = serve(text=tf.constant(frame["text"].tolist()), image=tf.constant([b""] * len(frame)))
    test.assertAllClose(out["probabilities"], expected, atol=1e-5)
    test.assertEqual([s.decode() for s in out["label"].numpy()],
                     [danmu.SIX_CLASSES[i] for i in expected.argmax(-1)])
    test.assertEqual(meta["text_input"], "jieba")


class ChineseBERTTest(TestCase):
    def test_word_piece_vocabulary_from_text_splits_cjk(self):
        vocabulary = word_piece_vocabulary(CHATS, 200)
        self.assertEqual(vocabulary[:5], ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"])
        self.assertTrue({"游", "戏", "芯", "片"} <= set(vocabulary))
        self.assertFalse([t for t in vocabulary if t.startswith("##") and "\u4e00" <= t[2:3] <= "\u9fff"])
        preprocessor = chinese_bert_preprocessor(sequence_length=8, vocabulary=vocabulary)
        ids = next(iter(tf.data.Dataset.from_tensor_slices(["游戏画面"]).batch(1).map(preprocessor)))
        tokens = [vocabulary[i] for i in ids["token_ids"][0].numpy() if i]
        self.assertEqual(tokens, ["[CLS]", "游", "戏", "画", "面", "[SEP]"])  # one token per character

    def test_needs_vocabulary_or_preset(self):
        with self.assertRaisesRegex(ValueError, "vocabulary"):
            chinese_bert_preprocessor(sequence_length=8)
        with self.assertRaisesRegex(ValueError, "vocabulary_size"):
            chinese_bert_classifier(6)

    def test_trains_a_step_and_exports(self):
        frame = chat_frame()
        vocabulary = word_piece_vocabulary(frame["text"], 200)
        preprocessor = chinese_bert_preprocessor(sequence_length=12, vocabulary=vocabulary)
        model = chinese_bert_classifier(6, vocabulary_size=len(vocabulary), sequence_length=12, **TINY_BERT)
        self.assertIsInstance(model, BertClassifier)
        self.assertIsInstance(model.backbone, keras_hub.models.BertBackbone)
        data = meme_dataset(frame, modalities=("text",), batch_size=4, num_classes=6, vectorizer=preprocessor)
        before = model.get_layer("probabilities").get_weights()[0].copy()
        one_step(model, data)
        self.assertNotAllClose(before, model.get_layer("probabilities").get_weights()[0])
        check_export(self, model, frame, preprocessor)


# --- GPT-2 prompts ---------------------------------------------------------------


def test_byte_level_vocabulary_one_token_per_seen_character():
    vocabulary, merges = byte_level_vocabulary(["游戏游戏", "好吃"])
    # 4 characters of 3 UTF-8 bytes (no two share their first two bytes): 2 merges each,
    # making a two-byte prefix token and the character token.
    assert vocabulary["<|endoftext|>"] == 0 and len(vocabulary) == 1 + 256 + 4 * 2
    assert len(merges) == 4 * 2
    tokenizer = gpt2_tokenizer_from_texts(["游戏游戏", "好吃"])
    tokenize = tf.function(tokenizer)
    assert tokenize(tf.constant(["游戏好吃"])).to_list() == [[vocabulary[k] for k in (
        "".join(vocabulary_key(ch)) for ch in "游戏好吃")]]
    # An unseen character falls back to its three byte tokens; the text survives a round trip.
    unseen = tokenize(tf.constant(["猫"])).to_list()[0]
    assert len(unseen) == 3 and all(1 <= i <= 256 for i in unseen)
    assert detokenize(tokenizer, tokenize(tf.constant(["猫游戏 awsl"]))) == ["猫游戏 awsl"]


def vocabulary_key(ch):
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    mapping = {b[0]: u for b, u in zip(*bytes_to_unicode())}
    return [mapping[b] for b in ch.encode("utf-8")]


def test_split_template():
    assert split_template("文本分类：[A]\n答案：") == ("文本分类：", "\n答案：")
    with pytest.raises(ValueError, match="exactly one"):
        split_template("no placeholder")


@pytest.fixture(scope="module")
def tiny_lm():
    tokenizer = gpt2_tokenizer_from_texts(["".join(c.split()) for c in CHATS] + [TEMPLATE] + NAMES)
    keras.utils.set_random_seed(0)
    backbone = gpt2_backbone(vocabulary_size=tokenizer.vocabulary_size(), **TINY_GPT2)
    return tokenizer, backbone


def test_prompt_lm_is_gpt2_causal_lm_without_a_soft_prompt(tiny_lm):
    tokenizer, backbone = tiny_lm
    inputs = {"token_ids": np.array([[0, 5, 9, 3], [0, 7, 0, 0]], "int32"),
              "padding_mask": np.array([[1, 1, 1, 1], [1, 1, 0, 0]], "int32")}
    reference = keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)
    np.testing.assert_allclose(PromptLM(backbone)(inputs), reference(inputs), atol=1e-6)
    assert PromptLM(backbone).trainable_weights == []


def test_soft_prompt_layer_shapes():
    layer = SoftPrompt(2, 4)
    x, mask = layer(np.zeros((3, 5, 4), "float32"), np.ones((3, 5), "int32"))
    assert x.shape == (3, 7, 4) and mask.shape == (3, 7)
    np.testing.assert_allclose(x[:, :2], np.broadcast_to(layer.embeddings.numpy(), (3, 2, 4)))
    assert np.asarray(mask).min() == 1


def test_prompt_lm_round_trip(tiny_lm, tmp_path):
    tokenizer, backbone = tiny_lm
    lm = PromptLM(backbone, num_prompt_tokens=2)
    inputs = {"token_ids": np.array([[0, 5, 9]], "int32"), "padding_mask": np.ones((1, 3), "int32")}
    lm.save(tmp_path / "lm.keras")
    restored = keras.saving.load_model(tmp_path / "lm.keras")
    np.testing.assert_allclose(restored(inputs), lm(inputs), atol=1e-6)
    assert restored.get_config()["num_prompt_tokens"] == 2


def test_candidate_sequences_and_log_likelihood_by_hand(tiny_lm):
    tokenizer, backbone = tiny_lm
    lm = PromptLM(backbone)
    scorer = PromptScorer(lm, tokenizer, TEMPLATE, NAMES)
    features, answer = scorer.candidate_inputs(tf.constant(["游戏 画面"]))
    ids = features["token_ids"].numpy()
    assert ids.shape[0] == 5
    # Row c is <|endoftext|> + template with 游戏画面 (spaces removed) + the c-th name.
    texts = detokenize(tokenizer, tf.constant(ids))
    for c, name in enumerate(NAMES):
        assert texts[c].replace("<|endoftext|>", "") == TEMPLATE.replace("[A]", "游戏画面") + name
        marked = ids[c][answer.numpy()[c] == 1]
        assert detokenize(tokenizer, tf.constant([marked])) == [name]
    # The log-likelihood of name c: sum over its tokens of log p(token | everything before).
    logits = lm(features).numpy().astype("float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    by_hand = [sum(log_probs[c, t - 1, ids[c, t]] for t in np.flatnonzero(answer.numpy()[c])) for c in range(5)]
    np.testing.assert_allclose(scorer.scores(["游戏 画面"])[0], by_hand, rtol=1e-5)


def test_chat_is_truncated_not_the_template(tiny_lm):
    tokenizer, backbone = tiny_lm
    scorer = PromptScorer(PromptLM(backbone), tokenizer, TEMPLATE, NAMES, max_text_tokens=2)
    features, _ = scorer.candidate_inputs(tf.constant(["游戏 画面 好看 上分"]))
    text = detokenize(tokenizer, features["token_ids"][:1])[0]
    assert text.startswith("<|endoftext|>网络语言分类：游戏\n选项：")


def test_prompt_tuning_trains_only_the_soft_prompt_and_exports(tiny_lm, tmp_path):
    tokenizer, backbone = tiny_lm
    lm = PromptLM(backbone, num_prompt_tokens=3)
    assert [w.path for w in lm.trainable_weights] == ["soft_prompt/embeddings"]
    assert lm.soft_prompt.embeddings.shape == (3, backbone.hidden_dim)
    assert len(lm.non_trainable_weights) == len(backbone.weights) > 0
    template = "[A]\n选项：动画，音乐舞蹈，知识，生活，影视\n答案："
    scorer = PromptScorer(lm, tokenizer, template, NAMES)
    before = {w.path: w.numpy().copy() for w in lm.weights}
    one_step(lm, scorer.training_dataset(CHATS, [0, 0, 3, 2, 3, 3, 3, 2], batch_size=4),
             loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    after = {w.path: w.numpy() for w in lm.weights}
    assert sorted(p for p in before if not np.array_equal(before[p], after[p])) == ["soft_prompt/embeddings"]

    expected = scorer.scores(CHATS, batch_size=3)
    path = str(tmp_path / "saved_model")
    export_prompt_scorer(scorer, path, class_names=danmu.MAIN_CATEGORIES, metadata={"system": "test"})
    serve, meta, _ = load_exported(path)
    out = serve(text=tf.constant(CHATS), image=tf.constant([b""] * len(CHATS)))
    np.testing.assert_allclose(out["log_likelihood"], expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
    assert [s.decode() for s in out["label"].numpy()] == [danmu.MAIN_CATEGORIES[i] for i in expected.argmax(-1)]
    assert meta["template"] == template and meta["candidates"] == NAMES
