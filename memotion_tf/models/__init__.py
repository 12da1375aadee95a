"""Model registry: config `model` name -> Keras model class."""

from memotion_tf.models.bert_classifier import BertClassifier
from memotion_tf.models.cnn_image import CNNImage
from memotion_tf.models.cnn_lstm_fusion import CNNLSTMFusion
from memotion_tf.models.conv1d_text import Conv1DText
from memotion_tf.models.hfm import HierarchicalFusionModel
from memotion_tf.models.lstm_text import LSTMText
from memotion_tf.models.resnet import ResNetClassifier
from memotion_tf.models.tensor_fusion import TensorFusionNetwork

MODELS = {
    "lstm_t": LSTMText,
    "conv1d_t": Conv1DText,
    "cnn_i": CNNImage,
    "cnn_lstm_ti": CNNLSTMFusion,
    "bert_classifier": BertClassifier,
    "resnet_classifier": ResNetClassifier,
    "tfn": TensorFusionNetwork,
    "hfm": HierarchicalFusionModel,
}


def uses_wordpiece(cls):
    """Whether a model class takes a keras-hub backbone and its WordPiece preprocessor
    (class attribute `text_encoder = "wordpiece"`) rather than token-id sequences."""
    return getattr(cls, "text_encoder", "sequence") == "wordpiece"


def uses_image_backbone(cls):
    """Whether a model class builds a `keras.applications` backbone that takes `weights`."""
    return getattr(cls, "image_backbone", False)


def build_model(name, *, num_classes, vocabulary_size=None, sequence_length=None,
                image_size=None, backbone=None, weights=None, **model_args):
    """Instantiate a registered model with the data-dependent pieces it needs:
    a vocabulary size and sequence length (token-sequence text models), a
    keras-hub `backbone` (BERT-style text models), an image size and
    `keras.applications` `weights` (image models)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    cls = MODELS[name]
    kwargs = dict(model_args, num_classes=num_classes)
    if "text" in cls.modalities:
        if uses_wordpiece(cls):
            kwargs.update(backbone=backbone)
        else:
            kwargs.update(vocabulary_size=vocabulary_size, sequence_length=sequence_length)
    if "image" in cls.modalities:
        kwargs.update(image_size=image_size)
        if uses_image_backbone(cls):
            kwargs.update(weights=weights)
    return cls(**kwargs)
