"""One classifier applied to two views of each meme in the same step (CN-HIT-MI.T, equations 1-2).

`two_view_model(classifier)` is a functional model whose inputs are the
classifier's text inputs (the cleaned view), the same inputs prefixed `raw_`
(the raw view) and, for a multimodal classifier, the image, shared by both
views. Its output concatenates the two probability vectors, which is what
`losses.consistency.CleanRawKLLoss` expects. The two calls share every weight,
so training the wrapper trains the classifier; the classifier alone is what
gets evaluated and exported.
"""

import keras

from memotion_tf.export import TEXT_INPUTS


def two_view_model(classifier):
    inputs, clean, raw = {}, {}, {}
    for name, tensor in classifier.input.items():
        spec = dict(shape=tensor.shape[1:], dtype=tensor.dtype)
        if name in TEXT_INPUTS:
            clean[name] = inputs[name] = keras.Input(name=name, **spec)
            raw[name] = inputs[f"raw_{name}"] = keras.Input(name=f"raw_{name}", **spec)
        else:  # the image: the same for both views
            clean[name] = raw[name] = inputs[name] = keras.Input(name=name, **spec)
    # float32, as the classifier's outputs: under a mixed policy a Concatenate
    # would cast the probabilities to float16 before the loss.
    outputs = keras.layers.Concatenate(dtype="float32", name="clean_raw")([classifier(clean), classifier(raw)])
    return keras.Model(inputs, outputs, name=f"{classifier.name}_two_view")


def clean_view_accuracy(num_classes):
    """Accuracy of the cleaned view's half of a two-view output."""

    def accuracy(y_true, y_pred):
        return keras.metrics.categorical_accuracy(y_true, y_pred[:, :num_classes])

    return keras.metrics.MeanMetricWrapper(accuracy, name="accuracy")
