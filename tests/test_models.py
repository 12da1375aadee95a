import keras
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import config as config_lib
from memotion_tf.models import CNNImage, CNNLSTMFusion, Conv1DText, LSTMText
from memotion_tf.papers import get_paper
from memotion_tf.papers.memotion import train_once
from tests import fixtures
from tests.test_case import TestCase

# The paper's training vocabulary had 13,367 words; +1 row for the padding id 0.
PAPER_VOCAB = 13367 + 1


class PaperShapesTest(TestCase):
    """count_params() pinned to the shapes of UoR section 4 (128x128x3, 192 ids)."""

    def test_lstm_t(self):
        # Embedding 13368*100 + LSTM 4*(128*(100+128)+128) + Dense 128*32+32 + Dense 32*3+3
        self.assertEqual(LSTMText(PAPER_VOCAB).count_params(), 1_336_800 + 117_248 + 4_128 + 99)

    def test_conv1d_t(self):
        # Embedding + Conv1D 5*100*128+128 + Dense 128*32+32 + Dense 32*3+3
        self.assertEqual(Conv1DText(PAPER_VOCAB).count_params(), 1_336_800 + 64_128 + 4_128 + 99)

    def test_cnn_i(self):
        # Conv 3*3*3*32+32, 3*3*32*64+64, 3*3*64*128+128; Dense (16*16*128)*128+128; Dense 128*3+3
        model = CNNImage()
        self.assertEqual(model.count_params(), 896 + 18_496 + 73_856 + 4_194_432 + 387)
        self.assertEqual(model.get_layer("image_flatten").output.shape[-1], 16 * 16 * 128)

    def test_cnn_lstm_ti(self):
        # LSTM-T's text branch + Dense 128*128+128; CNN-I's convs + Dense 32768*128+128;
        # concatenation to 256; Dense 256*64+64; Dense 64*3+3
        model = CNNLSTMFusion(PAPER_VOCAB)
        self.assertEqual(model.get_layer("fusion").output.shape[-1], 256)
        self.assertEqual(
            model.count_params(),
            1_336_800 + 117_248 + 16_512 + 93_248 + 4_194_432 + 16_448 + 195,
        )


class ModelBehaviourTest(TestCase):
    """Config round trip, eager vs predict, save/load, on tiny sizes."""

    def setUp(self):
        rng = np.random.default_rng(0)
        self.tokens = rng.integers(0, 20, size=(4, 8)).astype("int32")
        self.images = rng.random((4, 16, 16, 3)).astype("float32")

    def test_lstm_t(self):
        self.run_model_test(LSTMText(20, sequence_length=8, embedding_dim=4, lstm_units=4, dense_units=4),
                            {"token_ids": self.tokens})

    def test_conv1d_t(self):
        self.run_model_test(Conv1DText(20, sequence_length=8, embedding_dim=4, filters=4, kernel_size=3,
                                       dense_units=4), {"token_ids": self.tokens})

    def test_cnn_i(self):
        self.run_model_test(CNNImage(16, filters=(2, 2, 2), dense_units=4), {"image": self.images})

    def test_cnn_lstm_ti(self):
        model = CNNLSTMFusion(20, sequence_length=8, image_size=16, embedding_dim=4, lstm_units=4,
                              filters=(2, 2, 2), branch_units=4, fusion_units=4)
        self.run_model_test(model, {"token_ids": self.tokens, "image": self.images})


def _row_config(system, **changes):
    configs = [config_lib.load_config(p, "quick") for p in get_paper("uor").config_paths()]
    config = next(c for c in configs if c.system == system)
    return config.replace(**changes)


# Small, fast settings that keep each paper row's model family and loss.
FAST = {"batch_size": 16, "image_size": 32, "max_length": 24}
EPOCHS = {"LSTM-T": 12, "LSTM-T+GMM": 12, "Conv1D-T": 6, "Conv1D-T+GMM": 6, "CNN-I": 5, "CNN-LSTM-TI": 8}


class LearnsTheSignalTest(TestCase):
    """Each UoR row learns the synthetic labels above chance, and its exported
    SavedModel gives the in-memory model's outputs from raw text and image bytes.

    Chance on this 3-class, 9:32:59 data: always-majority scores macro F1 0.25;
    uniform guessing about 0.3.
    """

    def _check(self, system):
        data = fixtures.memotion_data()
        config = _row_config(system, epochs=EPOCHS[system], **FAST)
        history = keras.callbacks.History()
        model, vectorizer, probabilities = train_once(
            config, data, seed=0, strategy=tf.distribute.get_strategy(), callbacks=[history], verbose=0)
        history = history.history
        from memotion_tf.evaluation.metrics import classification_metrics

        y = data.split("val")["label"].to_numpy()
        metrics = classification_metrics(y, probabilities.argmax(-1), 3)
        self.assertGreater(metrics["macro_f1"], 0.45, metrics)
        self.assertLess(history["loss"][-1], history["loss"][0])
        self.run_export_test(model, data.split("val").head(12), class_names=data.class_names,
                             vectorizer=vectorizer, image_size=config.image_size)
        return metrics

    def test_lstm_t(self):
        self._check("LSTM-T")

    def test_lstm_t_gmm(self):
        self._check("LSTM-T+GMM")

    def test_conv1d_t(self):
        self._check("Conv1D-T")

    def test_conv1d_t_gmm(self):
        self._check("Conv1D-T+GMM")

    def test_cnn_i(self):
        self._check("CNN-I")

    def test_cnn_lstm_ti(self):
        self._check("CNN-LSTM-TI")


def test_gmm_rejects_image_models():
    data = fixtures.memotion_data()
    config = _row_config("CNN-I", gmm=True, epochs=1, **FAST)
    with pytest.raises(ValueError, match="text-only"):
        train_once(config, data, seed=0, strategy=tf.distribute.get_strategy(), verbose=0)
