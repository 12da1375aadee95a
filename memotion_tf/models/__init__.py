"""Model registry: config `model` name -> Keras model class."""

from memotion_tf.models.cnn_image import CNNImage
from memotion_tf.models.cnn_lstm_fusion import CNNLSTMFusion
from memotion_tf.models.conv1d_text import Conv1DText
from memotion_tf.models.lstm_text import LSTMText

MODELS = {
    "lstm_t": LSTMText,
    "conv1d_t": Conv1DText,
    "cnn_i": CNNImage,
    "cnn_lstm_ti": CNNLSTMFusion,
}


def build_model(name, *, num_classes, vocabulary_size=None, sequence_length=None,
                image_size=None, **model_args):
    """Instantiate a registered model with the data-dependent sizes it needs."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    cls = MODELS[name]
    kwargs = dict(model_args, num_classes=num_classes)
    if "text" in cls.modalities:
        kwargs.update(vocabulary_size=vocabulary_size, sequence_length=sequence_length)
    if "image" in cls.modalities:
        kwargs.update(image_size=image_size)
    return cls(**kwargs)
