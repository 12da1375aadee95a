"""CN-HIT-MI.T's models (BERT, ResNet, TFNet, HFM), two-view training and its pieces."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.losses.consistency import CleanRawKLLoss
from memotion_tf.models.bert_classifier import BertClassifier
from memotion_tf.models.hfm import GuidedAttentionPooling, HierarchicalFusionModel
from memotion_tf.models.pretrained import text_backbone, text_preprocessor
from memotion_tf.models.resnet import ImageNetNormalization, ResNetClassifier
from memotion_tf.models.tensor_fusion import TensorFusionLayer, TensorFusionNetwork
from memotion_tf.training.schedules import learning_rate
from memotion_tf.training.two_view import two_view_model
from tests import fixtures
from tests.test_case import TestCase

IMAGE = 32
CLASSES = ("negative", "neutral", "positive")


def tiny_backbone(preprocessor):
    return text_backbone("", vocabulary_size=preprocessor.tokenizer.vocabulary_size(),
                         max_sequence_length=64)


class CNHITModelsTest(TestCase):
    def setUp(self):
        self.preprocessor = text_preprocessor("", sequence_length=16)
        self.frame = fixtures.memotion_data().split("val").iloc[:6].reset_index(drop=True)
        self.text = dict(self.preprocessor(self.frame["text"].astype(str).tolist()))
        self.images = tf.random.uniform([6, IMAGE, IMAGE, 3], seed=1)

    def _check(self, model, inputs):
        self.run_model_test(model, inputs)
        self.run_export_test(model, self.frame, class_names=CLASSES, vectorizer=self.preprocessor,
                             image_size=IMAGE if "image" in inputs else None)

    def test_bert_classifier(self):
        self._check(BertClassifier(tiny_backbone(self.preprocessor), num_classes=3), self.text)

    def test_resnet_classifier(self):
        self._check(ResNetClassifier(num_classes=3, image_size=IMAGE, depth=50), {"image": self.images})

    def test_tensor_fusion_network(self):
        model = TensorFusionNetwork(tiny_backbone(self.preprocessor), num_classes=3,
                                    image_size=IMAGE, depth=50, text_units=4, image_units=3)
        self.assertEqual(model.get_layer("tensor_fusion").output.shape[-1], 5 * 4)
        self._check(model, dict(self.text, image=self.images))

    def test_hierarchical_fusion_model(self):
        model = HierarchicalFusionModel(tiny_backbone(self.preprocessor), num_classes=3,
                                        image_size=IMAGE, depth=50, hidden_units=8, num_attributes=5)
        self._check(model, dict(self.text, image=self.images))


def test_resnet101_is_the_paper_default():
    model = ResNetClassifier(num_classes=3, image_size=IMAGE)
    assert model.get_layer("resnet").name == "resnet" and model.depth == 101
    # keras.applications' ResNet101 without top has 42,658,176 weights; plus the 2048x3 head.
    assert model.count_params() == 42_658_176 + 2048 * 3 + 3


def test_imagenet_normalization_matches_keras_preprocess_input():
    images = np.random.default_rng(0).uniform(size=(2, 4, 4, 3)).astype("float32")
    expected = keras.applications.resnet.preprocess_input(images * 255.0)
    np.testing.assert_allclose(ImageNetNormalization()(images), expected, atol=1e-4)


def test_tensor_fusion_layer_by_hand():
    a = np.array([[2.0, 3.0]], "float32")
    b = np.array([[5.0]], "float32")
    # [2, 3, 1] x [5, 1] -> [[10, 2], [15, 3], [5, 1]] flattened.
    np.testing.assert_allclose(TensorFusionLayer()(a, b), [[10, 2, 15, 3, 5, 1]])


def test_guided_attention_sums_to_one_and_skips_padding():
    layer = GuidedAttentionPooling(4)
    raw = tf.random.normal([2, 5, 3], seed=0)
    guide = tf.random.normal([2, 6], seed=1)
    mask = tf.constant([[True] * 5, [True, True, False, False, False]])
    pooled, attention = layer(raw, guide, mask=mask, return_attention=True)
    np.testing.assert_allclose(tf.reduce_sum(attention, -1), [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(attention[1, 2:], 0.0, atol=1e-7)
    np.testing.assert_allclose(pooled[1], tf.reduce_sum(raw[1, :2] * attention[1, :2, None], 0), atol=1e-5)
    # The guide steers the weights.
    _, other = layer(raw, -guide, mask=mask, return_attention=True)
    assert not np.allclose(attention[0], other[0])


def test_two_view_model_shares_the_classifier():
    preprocessor = text_preprocessor("", sequence_length=8)
    classifier = BertClassifier(tiny_backbone(preprocessor), num_classes=3)
    wrapper = two_view_model(classifier)
    assert wrapper.count_params() == classifier.count_params()
    clean = dict(preprocessor(["a funny cat", "monday again"]))
    raw = dict(preprocessor(["a funny cat imgflip.com", "monday again"]))
    out = wrapper({**clean, **{f"raw_{k}": v for k, v in raw.items()}}, training=False)
    np.testing.assert_allclose(out[:, :3], classifier(clean, training=False), atol=1e-6)
    np.testing.assert_allclose(out[:, 3:], classifier(raw, training=False), atol=1e-6)
    np.testing.assert_allclose(out[1, :3], out[1, 3:], atol=1e-6)  # same text, same output


def test_clean_raw_kl_loss_by_hand():
    y = np.array([[1, 0, 0], [0, 1, 0]], "float32")
    clean = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1]], "float32")
    raw = np.array([[0.5, 0.3, 0.2], [0.3, 0.6, 0.1]], "float32")
    # The default direction is KL(raw || clean) (see losses/consistency.py); KL(clean || raw) on request.
    kl = np.sum(raw * np.log(raw / clean), -1)
    ce = -np.log([0.7, 0.6])
    plain = CleanRawKLLoss(schedule=None)
    assert float(plain(y, np.concatenate([clean, raw], -1))) == pytest.approx(np.mean(ce + kl), rel=1e-5)
    kl_clean_raw = np.sum(clean * np.log(clean / raw), -1)
    other = CleanRawKLLoss(schedule=None, direction="clean_raw")
    assert float(other(y, np.concatenate([clean, raw], -1))) == pytest.approx(np.mean(ce + kl_clean_raw), rel=1e-5)
    # Identical views: the KL term vanishes and the loss is the cross-entropy.
    same = np.concatenate([clean, clean], -1)
    assert float(plain(y, same)) == pytest.approx(np.mean(ce), rel=1e-5)
    # TSA at progress 0 (threshold 1/3) drops both examples (0.7 and 0.6 > 1/3): only KL is left.
    annealed = CleanRawKLLoss(schedule="linear")
    annealed.progress.assign(0.0)
    assert float(annealed(y, np.concatenate([clean, raw], -1))) == pytest.approx(np.mean(kl), rel=1e-5)
    # At progress 0.5 (threshold 2/3) only the first example (0.7) is dropped; the kept
    # cross-entropy is normalised by the one kept example, then averaged over the batch of 2.
    annealed.progress.assign(0.5)
    expected = np.mean([0.0, ce[1] * 2 / 1]) + np.mean(kl)
    assert float(annealed(y, np.concatenate([clean, raw], -1))) == pytest.approx(expected, rel=1e-5)


def test_warmup_cosine_schedule():
    schedule = learning_rate("warmup_cosine", 2e-5, total_steps=100, warmup_fraction=0.1)
    assert float(schedule(0)) == pytest.approx(0.0, abs=1e-12)
    assert float(schedule(5)) == pytest.approx(1e-5, rel=1e-4)
    assert float(schedule(10)) == pytest.approx(2e-5, rel=1e-4)
    assert float(schedule(55)) == pytest.approx(1e-5, rel=1e-3)  # half-way down the cosine
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-10)
    assert learning_rate("constant", 1e-3, total_steps=10) == 1e-3
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        learning_rate("step", 1e-3, total_steps=10)
