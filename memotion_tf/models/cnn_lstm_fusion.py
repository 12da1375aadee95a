import keras

from memotion_tf.models.blocks import cnn_image_branch, lstm_text_branch


@keras.saving.register_keras_serializable(package="memotion_tf")
class CNNLSTMFusion(keras.Model):
    """UoR's CNN-LSTM-TI multimodal classifier (section 4.3).

    Text: Embedding 100 -> LSTM 128 -> Dense 128 ReLU. Image: CNN-I's conv
    blocks -> Dense 128 ReLU. The two 128-d vectors are concatenated to 256-d
    and passed through "the fully-connected layers"; the paper does not size
    them, so we use Dense `fusion_units` ReLU -> Dropout -> Dense softmax.

    Args:
        vocabulary_size, sequence_length, embedding_dim, lstm_units: text branch.
        image_size, filters: image branch.
        branch_units: width of each branch's output (128 in the paper).
        fusion_units, dropout: fused head.
        num_classes: output classes.
    """

    modalities = ("text", "image")

    def __init__(self, vocabulary_size, sequence_length=192, image_size=128, embedding_dim=100,
                 lstm_units=128, filters=(32, 64, 128), branch_units=128, fusion_units=64,
                 dropout=0.5, num_classes=3, **kwargs):
        # === Functional Model ===
        token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        image = keras.Input(shape=(image_size, image_size, 3), name="image")
        text = lstm_text_branch(token_ids, vocabulary_size, embedding_dim, lstm_units)
        text = keras.layers.Dense(branch_units, activation="relu", name="text_dense")(text)
        picture = cnn_image_branch(image, filters)
        picture = keras.layers.Dense(branch_units, activation="relu", name="image_dense")(picture)
        x = keras.layers.Concatenate(name="fusion")([text, picture])
        x = keras.layers.Dense(fusion_units, activation="relu", name="fusion_dense")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs={"token_ids": token_ids, "image": image}, outputs=outputs, **kwargs)
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.image_size = image_size
        self.embedding_dim = embedding_dim
        self.lstm_units = lstm_units
        self.filters = tuple(filters)
        self.branch_units = branch_units
        self.fusion_units = fusion_units
        self.dropout = dropout
        self.num_classes = num_classes

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "image_size": self.image_size,
            "embedding_dim": self.embedding_dim,
            "lstm_units": self.lstm_units,
            "filters": list(self.filters),
            "branch_units": self.branch_units,
            "fusion_units": self.fusion_units,
            "dropout": self.dropout,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
