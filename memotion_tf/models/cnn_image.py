import keras

from memotion_tf.models.blocks import cnn_image_branch


@keras.saving.register_keras_serializable(package="memotion_tf")
class CNNImage(keras.Model):
    """UoR's CNN-I image classifier (section 4.2).

    128x128x3 image -> three blocks of Conv 3x3 (32, 64, 128 filters, ReLU) +
    2x2 max-pool -> 16x16x128 flattened -> Dense 128 ReLU -> Dropout -> Dense
    softmax. The paper's text says "two convolution layers" but then describes
    three blocks ending at 16x16; we follow the shapes.

    Args:
        image_size: square input side (128 in the paper).
        filters: filters per conv block.
        dense_units, dropout: head sizes.
        num_classes: output classes.
    """

    modalities = ("image",)

    def __init__(self, image_size=128, filters=(32, 64, 128), dense_units=128, dropout=0.5,
                 num_classes=3, **kwargs):
        # === Functional Model ===
        image = keras.Input(shape=(image_size, image_size, 3), name="image")
        x = cnn_image_branch(image, filters)
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs={"image": image}, outputs=outputs, **kwargs)
        # === Config ===
        self.image_size = image_size
        self.filters = tuple(filters)
        self.dense_units = dense_units
        self.dropout = dropout
        self.num_classes = num_classes

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_size": self.image_size,
            "filters": list(self.filters),
            "dense_units": self.dense_units,
            "dropout": self.dropout,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
