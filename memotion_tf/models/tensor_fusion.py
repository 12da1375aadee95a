"""Tensor Fusion Network (Zadeh et al., 2017) as CN-HIT-MI.T's `TFNet` rows use it.

    h_text  = Dense(text_units, ReLU)(BERT [CLS])
    h_image = Dense(image_units, ReLU)(ResNet global average pool)
    z       = flatten([h_text; 1] ⊗ [h_image; 1])        # (text_units+1)(image_units+1)
    output  = softmax(Dense(Dropout(Dense(ReLU) x2)(z)))

The appended 1s keep the unimodal terms (h_text, h_image) alongside the
bimodal products, which is the point of the tensor fusion layer.

Simplified relative to Zadeh et al.: two modalities instead of three (memes
have no audio), the text subnetwork is BERT instead of an LSTM over GloVe,
the image subnetwork is ResNet instead of FACET features, and the post-fusion
network has `fusion_units`-wide layers (128 in TFN's sentiment setup).
"""

import keras

from memotion_tf.models.bert_classifier import TextBackboneModel, backbone_inputs, pooled_text
from memotion_tf.models.resnet import resnet_feature_map


@keras.saving.register_keras_serializable(package="memotion_tf")
class TensorFusionLayer(keras.layers.Layer):
    """flatten([a; 1] ⊗ [b; 1]) for a batch of vectors a [B, m] and b [B, n] -> [B, (m+1)(n+1)]."""

    def call(self, a, b):
        ones = keras.ops.ones_like(a[:, :1])
        a = keras.ops.concatenate([a, ones], axis=-1)
        b = keras.ops.concatenate([b, ones], axis=-1)
        outer = keras.ops.einsum("bi,bj->bij", a, b)
        return keras.ops.reshape(outer, (-1, a.shape[-1] * b.shape[-1]))

    def compute_output_shape(self, a_shape, b_shape):
        return (a_shape[0], (a_shape[-1] + 1) * (b_shape[-1] + 1))


@keras.saving.register_keras_serializable(package="memotion_tf")
class TensorFusionNetwork(TextBackboneModel):
    """TFNet: BERT and ResNet subnetworks joined by a tensor fusion layer.

    Args:
        backbone: keras-hub text backbone (see `BertClassifier`).
        num_classes: output classes.
        image_size, depth, weights, bn_momentum: the ResNet (see `ResNetClassifier`).
        text_units, image_units: widths of the two subnetwork outputs.
        fusion_units: width of the two post-fusion layers.
        dropout: dropout after the post-fusion layers.

    Reference: Zadeh et al., "Tensor Fusion Network for Multimodal Sentiment
    Analysis", EMNLP 2017.
    """

    modalities = ("text", "image")
    image_backbone = True

    def __init__(self, backbone, num_classes=3, image_size=224, depth=101, weights=None,
                 text_units=32, image_units=32, fusion_units=128, dropout=0.15, bn_momentum=None,
                 **kwargs):
        # === Layers ===
        self.backbone = backbone
        # === Functional Model ===
        inputs = backbone_inputs(backbone)
        inputs["image"] = keras.Input(shape=(image_size, image_size, 3), name="image")
        text = pooled_text(backbone, {k: v for k, v in inputs.items() if k != "image"})
        text = keras.layers.Dense(text_units, activation="relu", name="text_dense")(text)
        picture = resnet_feature_map(inputs["image"], depth, image_size, weights, bn_momentum=bn_momentum)
        picture = keras.layers.GlobalAveragePooling2D(name="image_pool")(picture)
        picture = keras.layers.Dense(image_units, activation="relu", name="image_dense")(picture)
        x = TensorFusionLayer(name="tensor_fusion")(text, picture)
        x = keras.layers.Dense(fusion_units, activation="relu", name="fusion_dense1")(x)
        x = keras.layers.Dropout(dropout, name="fusion_dropout")(x)
        x = keras.layers.Dense(fusion_units, activation="relu", name="fusion_dense2")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config ===
        self.num_classes = num_classes
        self.image_size = image_size
        self.depth = depth
        self.text_units = text_units
        self.image_units = image_units
        self.fusion_units = fusion_units
        self.dropout = dropout
        self.bn_momentum = bn_momentum

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "backbone": keras.layers.serialize(self.backbone), "num_classes": self.num_classes,
                "image_size": self.image_size, "depth": self.depth, "text_units": self.text_units,
                "image_units": self.image_units, "fusion_units": self.fusion_units,
                "dropout": self.dropout, "bn_momentum": self.bn_momentum}
