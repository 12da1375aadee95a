import keras


@keras.saving.register_keras_serializable(package="memotion_tf")
class Conv1DText(keras.Model):
    """UoR's Conv1D-T text classifier.

    The paper names this model but does not describe it. We keep LSTM-T's
    embedding and head and replace the LSTM by a 1-D convolution with global
    max-pooling (Kim-style): Embedding 100 -> Conv1D 128 filters, width 5, ReLU
    -> GlobalMaxPooling1D -> Dense 32 ReLU -> Dropout -> Dense softmax.

    Args:
        vocabulary_size: embedding rows, including the padding id 0.
        sequence_length: token ids per meme.
        embedding_dim, filters, kernel_size, dense_units, dropout: layer sizes.
        num_classes: output classes.
    """

    modalities = ("text",)

    def __init__(self, vocabulary_size, sequence_length=192, embedding_dim=100, filters=128,
                 kernel_size=5, dense_units=32, dropout=0.5, num_classes=3, **kwargs):
        # === Functional Model ===
        token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="text_embedding")(token_ids)
        x = keras.layers.Conv1D(filters, kernel_size, activation="relu", name="text_conv")(x)
        x = keras.layers.GlobalMaxPooling1D(name="text_pool")(x)
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs={"token_ids": token_ids}, outputs=outputs, **kwargs)
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.filters = filters
        self.kernel_size = kernel_size
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
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
