"""BiliMemeNet's linear baseline (section 5): a bag of jieba words through 4 x Dense 50.

The paper: "4 fully connected layer each with size set to 50 and leaky relu
with value 0.1 at the end of each fully connected layer. A dropout was applied
in the middle [...] and a softmax layer was added to the end. The input to the
model are the word tokens and the output are one-hot encoded category ids."

The input representation is not specified beyond "the word tokens". A stack of
Dense layers needs a fixed-size vector, so we read it as a bag of words: the
multi-hot vector over the training vocabulary of jieba words (stopwords
removed). `input_mode="count"` gives word counts instead. "In the middle" is
read as one Dropout between the second and the third Dense layer. The softmax
layer is a Dense layer to the classes with a softmax activation.
"""

import keras
from keras import ops

OUTPUT_MODES = ("multi_hot", "count")


@keras.saving.register_keras_serializable(package="memotion_tf")
class BagOfWords(keras.layers.Layer):
    """Padded token ids [batch, length] -> [batch, vocabulary_size] word vector.

    Id 0 is padding and never counts; id 1 (the vectoriser's out-of-vocabulary
    slot) is never produced by `SequenceVectorizer`, so its column stays 0.

    Args:
        vocabulary_size: number of ids, including 0.
        output_mode: "multi_hot" (1 where the word occurs) or "count".
    """

    def __init__(self, vocabulary_size, output_mode="multi_hot", **kwargs):
        super().__init__(**kwargs)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, not {output_mode!r}")
        self.vocabulary_size = vocabulary_size
        self.output_mode = output_mode
        self.encoding = keras.layers.CategoryEncoding(
            num_tokens=vocabulary_size, output_mode="count", dtype="float32")

    def call(self, token_ids):
        counts = self.encoding(token_ids)
        not_padding = ops.concatenate(
            [ops.zeros((1,), counts.dtype), ops.ones((self.vocabulary_size - 1,), counts.dtype)])
        counts = counts * not_padding
        if self.output_mode == "multi_hot":
            counts = ops.minimum(counts, 1.0)
        return counts

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.vocabulary_size)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "output_mode": self.output_mode})
        return config


@keras.saving.register_keras_serializable(package="memotion_tf")
class LinearBaseline(keras.Model):
    """Bag of words -> 4 x (Dense `units` -> LeakyReLU 0.1), Dropout after the
    second -> Dense softmax.

    Args:
        vocabulary_size: token ids of the vectoriser (`SequenceVectorizer`).
        sequence_length: padded length of `token_ids` (words per chat kept).
        num_classes: output classes (6 in the paper's 6-class scheme).
        units: width of each hidden layer (50 in the paper).
        num_layers: hidden Dense layers (4 in the paper).
        negative_slope: LeakyReLU slope (0.1 in the paper).
        dropout: rate of the Dropout in the middle (not given; 0.5).
        input_mode: "multi_hot" or "count" bag of words.

    Example:
    >>> model = LinearBaseline(vocabulary_size=5000, num_classes=6)
    >>> model({"token_ids": ids})  # [batch, 6] probabilities

    Reference: Tu, Mao, Xue, Zhang, "BiliMemeNet: Using NLP to Learn Chinese
    Meme From Bullet Chat", section 5.
    """

    modalities = ("text",)

    def __init__(self, vocabulary_size, sequence_length=32, num_classes=6, units=50, num_layers=4,
                 negative_slope=0.1, dropout=0.5, input_mode="multi_hot", **kwargs):
        # === Layers ===
        bag = BagOfWords(vocabulary_size, output_mode=input_mode, name="bag_of_words")
        # === Functional Model ===
        token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        x = bag(token_ids)
        for i in range(num_layers):
            x = keras.layers.Dense(units, name=f"dense_{i + 1}")(x)
            x = keras.layers.LeakyReLU(negative_slope=negative_slope, name=f"leaky_relu_{i + 1}")(x)
            if i == num_layers // 2 - 1:
                x = keras.layers.Dropout(dropout, name="dropout")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs={"token_ids": token_ids}, outputs=outputs, **kwargs)
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.num_classes = num_classes
        self.units = units
        self.num_layers = num_layers
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.input_mode = input_mode

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "num_classes": self.num_classes,
            "units": self.units,
            "num_layers": self.num_layers,
            "negative_slope": self.negative_slope,
            "dropout": self.dropout,
            "input_mode": self.input_mode,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
