"""ResNet image classifier of CN-HIT-MI.T (section 3.1) on `keras.applications`.

The paper fine-tunes torchvision's ImageNet ResNet-101; we use Keras' ResNet101
(or ResNet50) with `weights="imagenet"` in the paper profile and random
initialisation (`weights=None`) where nothing can be downloaded. Images arrive
in [0, 1] like every model of this project; the ImageNet "caffe" normalisation
that Keras' ResNet weights expect happens inside the model, so the exported
SavedModel takes raw image bytes.
"""

import keras

RESNETS = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101}
# keras.applications.resnet.preprocess_input: RGB -> BGR, minus the ImageNet mean (0-255 scale).
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="memotion_tf")
class ImageNetNormalization(keras.layers.Layer):
    """[0, 1] RGB -> the BGR, mean-subtracted 0-255 input of Keras' ResNet weights."""

    def call(self, images):
        bgr = keras.ops.flip(images, axis=-1) * 255.0
        return bgr - keras.ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype=images.dtype)


def resnet_backbone(depth, image_size, weights=None, name="resnet"):
    """keras.applications ResNet-`depth` without its top, as a feature map model."""
    if depth not in RESNETS:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNETS)}, got {depth}")
    return RESNETS[depth](include_top=False, weights=weights or None,
                          input_shape=(image_size, image_size, 3), name=name)


def resnet_feature_map(image, depth, image_size, weights=None, trainable=True, bn_momentum=None,
                       name="resnet"):
    """The last convolution's feature map ([h/32, w/32, 2048]) of a [0, 1] image tensor.

    `bn_momentum` replaces the BatchNormalization momentum (Keras: 0.99). A
    randomly initialised ResNet trained for only a few hundred steps needs a
    smaller one (0.9), or its moving statistics still describe the first
    steps' activations at evaluation time."""
    backbone = resnet_backbone(depth, image_size, weights, name=name)
    backbone.trainable = trainable
    if bn_momentum is not None:
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = bn_momentum
    x = ImageNetNormalization(name=f"{name}_normalization")(image)
    return backbone(x)


@keras.saving.register_keras_serializable(package="memotion_tf")
class ResNetClassifier(keras.Model):
    """ResNet -> global average pool -> dropout -> softmax (CN-HIT-MI.T's `ResNet` rows).

    Args:
        num_classes: output classes.
        image_size: square input side (the paper's is not given; 224 is
            ResNet's native size).
        depth: 101 (the paper) or 50.
        weights: `"imagenet"` or None. Only the first build downloads; a
            restored model (`from_config`) starts from random weights that
            the saved ones then replace.
        dropout: dropout before the classifier (not given in the paper).
        bn_momentum: BatchNormalization momentum; None keeps Keras' 0.99.

    Example:
    >>> model = ResNetClassifier(num_classes=3, image_size=64, depth=50)
    >>> model({"image": tf.random.uniform([2, 64, 64, 3])}).shape  # (2, 3)

    Reference: He et al., "Deep Residual Learning for Image Recognition", 2015;
    Li et al., "CN-HIT-MI.T at SemEval-2020 Task 8", 2020.
    """

    modalities = ("image",)
    image_backbone = True

    def __init__(self, num_classes=3, image_size=224, depth=101, weights=None, dropout=0.1,
                 bn_momentum=None, **kwargs):
        # === Functional Model ===
        image = keras.Input(shape=(image_size, image_size, 3), name="image")
        x = resnet_feature_map(image, depth, image_size, weights, bn_momentum=bn_momentum)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs={"image": image}, outputs=outputs, **kwargs)
        # === Config ===
        self.num_classes = num_classes
        self.image_size = image_size
        self.depth = depth
        self.weights_source = weights or None
        self.dropout = dropout
        self.bn_momentum = bn_momentum

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "num_classes": self.num_classes,
                "image_size": self.image_size, "depth": self.depth, "dropout": self.dropout,
                "bn_momentum": self.bn_momentum}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
