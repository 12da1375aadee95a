import keras

from memotion_tf.models.blocks import lstm_text_branch


@keras.saving.register_keras_serializable(package="memotion_tf")
class LSTMText(keras.Model):
    """UoR's LSTM-T text classifier (section 4.1).

    token ids [192] -> Embedding 100 -> LSTM 128 -> Dense 32 ReLU -> Dropout ->
    Dense softmax. The paper does not give the dropout rate or its position;
    we put one Dropout after the 32-unit layer (rate in the config).

    Args:
        vocabulary_size: embedding rows, including the padding id 0.
        sequence_length: token ids per meme.
        embedding_dim, lstm_units, dense_units, dropout: layer sizes.
        num_classes: output classes (3 for Memotion task A).

    Reference: Liu et al., "UoR at SemEval-2020 Task 8", 2020.
    """

    modalities = ("text",)

    def __init__(self, vocabulary_size, sequence_length=192, embedding_dim=100, lstm_units=128,
                 dense_units=32, dropout=0.5, num_classes=3, **kwargs):
        # === Functional Model ===
        token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        x = lstm_text_branch(token_ids, vocabulary_size, embedding_dim, lstm_units)
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs={"token_ids": token_ids}, outputs=outputs, **kwargs)
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.lstm_units = lstm_units
        self.dense_units = dense_units
        self.dropout = dropout
        self.num_classes = num_classes

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "lstm_units": self.lstm_units,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
