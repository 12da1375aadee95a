"""BERT text classifier of CN-HIT-MI.T (section 3.2): a keras-hub backbone plus a
classification head, as keras-hub's `BertTextClassifier` builds it.

The backbone comes from `memotion_tf.models.pretrained.text_backbone`: a preset
(`bert_base_en_uncased` in the paper profile, the embedded all-MiniLM-L6-v2 by
default) or a tiny random BERT in tests. The model's inputs are the backbone's
(`token_ids`, `padding_mask`, `segment_ids`), produced by the matching keras-hub
preprocessor in tf.data and inside the exported SavedModel.
"""

import keras


def pooled_text(backbone, inputs):
    """The [CLS] representation: BERT's `pooled_output`, else the first token's state."""
    outputs = backbone(inputs)
    if isinstance(outputs, dict) and "pooled_output" in outputs:
        return outputs["pooled_output"]
    sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
    return sequence[:, 0, :]


def backbone_inputs(backbone):
    """Fresh `keras.Input`s named like the backbone's own inputs."""
    return {name: keras.Input(shape=(None,), dtype=tensor.dtype, name=name)
            for name, tensor in backbone.input.items()}


class BackboneModel(keras.Model):
    """Base of the functional models built around a keras-hub backbone
    (keras-hub's `Task` pattern): the backbone is a constructor argument, saved
    in `get_config` as `keras.layers.serialize(backbone)` and rebuilt here."""

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)


class TextBackboneModel(BackboneModel):
    """A `BackboneModel` on a text backbone whose inputs come from a keras-hub
    WordPiece preprocessor (the `MODELS` registry reads these attributes)."""

    modalities = ("text",)
    text_encoder = "wordpiece"


@keras.saving.register_keras_serializable(package="memotion_tf")
class BertClassifier(TextBackboneModel):
    """Backbone -> [CLS] -> dropout -> softmax.

    Args:
        backbone: a keras-hub text backbone (BERT, RoBERTa, ...).
        num_classes: output classes.
        dropout: dropout on the [CLS] vector (BERT's fine-tuning default, 0.1).

    Example:
    >>> backbone = text_backbone("", vocabulary_size=100)
    >>> model = BertClassifier(backbone, num_classes=3)

    Reference: Devlin et al., "BERT", 2018; Li et al., "CN-HIT-MI.T at
    SemEval-2020 Task 8", 2020.
    """

    def __init__(self, backbone, num_classes=3, dropout=0.1, **kwargs):
        # === Layers ===
        self.backbone = backbone
        # === Functional Model ===
        inputs = backbone_inputs(backbone)
        x = pooled_text(backbone, inputs)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "backbone": keras.layers.serialize(self.backbone),
                "num_classes": self.num_classes, "dropout": self.dropout}
