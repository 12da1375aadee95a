"""One softmax head per label on any single-label classifier (Memotion tasks B and C).

Memotion task B asks four yes/no questions of each meme (humour, sarcasm,
offensive, motivational) and task C their levels (4, 4, 4 and 2). Every
classifier of this project ends in `Dense(num_classes, softmax,
name="probabilities")`; `multi_head` takes the features that layer reads and
puts one softmax head per label on them instead. The heads' probabilities are
concatenated into one `[batch, sum of head sizes]` output named
`probabilities`, so the tf.data pipeline, the loss (`MultiHeadCrossEntropy`)
and the SavedModel keep the single-output shape; `heads` says where each
label's block lies.
"""

import keras


def head_slices(heads):
    """[(name, start, stop)] of each head's block in the concatenated output."""
    out, start = [], 0
    for name, size in heads:
        out.append((name, start, start + int(size)))
        start += int(size)
    return out


def head_predictions(probabilities, heads):
    """The predicted class of each meme: `{label: argmax over its block}` with
    heads, the argmax over all classes without (`heads` empty)."""
    if not heads:
        return probabilities.argmax(-1)
    return {name: probabilities[:, a:b].argmax(-1) for name, a, b in head_slices(heads)}


def multi_head(model, heads, name=None):
    """`model` with its `probabilities` layer replaced by one softmax head per
    `(label, number of classes)` in `heads`, concatenated in that order.

    Args:
        model: a classifier whose last layer is `Dense(..., name="probabilities")`.
        heads: e.g. `[("humour", 2), ("sarcasm", 2), ("offensive", 2), ("motivational", 2)]`.

    Example:
    >>> task_b = multi_head(LSTMText(vocabulary_size=100, num_classes=2), [("humour", 2), ("sarcasm", 2)])
    >>> task_b.output.shape  # (None, 4)
    """
    features = model.get_layer("probabilities").input
    blocks = [keras.layers.Dense(int(size), activation="softmax", dtype="float32", name=f"head_{label}")(features)
              for label, size in heads]
    outputs = keras.layers.Concatenate(name="probabilities", dtype="float32")(blocks) if len(blocks) > 1 \
        else blocks[0]
    wrapped = keras.Model(model.input, outputs, name=name or f"{model.name}_heads")  # keeps the input dict
    wrapped.modalities = getattr(model, "modalities", ())
    if hasattr(model, "backbone"):
        wrapped.backbone = model.backbone
    return wrapped
