"""1213Li's label-attention fusion model (SemEval-2021 Task 6 subtask 3, section 3.2).

    text ──preprocessor──> keras-hub backbone (fine-tuned) ──> T  (tokens x d_text)
    image [0, 1] ──> ImageNet "caffe" normalisation ──> ResNet-50 (frozen) ──> V  (49 x 2048)

    T, V ──Dense──> label space (256-d)                      (our reading, below)
    T_avg = masked mean of T,  V_avg = mean of V              (eq. 2-3)
    per label i: S_ij = L_i . T_j,  a_i = softmax(S_i),  T_i,att = sum_j a_ij T_j   (eq. 4-6)
                 same over the 49 image regions -> V_i,att
    R_i = [T_avg; V_avg; T_i,att; V_i,att]                    (eq. 7)
    3-layer fully connected classifier, shared by the labels: R_i -> logit_i -> sigmoid

How we read what the paper leaves open:
- *Projections.* Eq. 4 takes the dot product of a 256-d label embedding with a
  token of T, so T (768-d for RoBERTa-base) and V (2048-d) must first be mapped
  into the label space. We use one linear `Dense(label_dim)` per modality and
  then use those projected sequences in every equation (2-7), so R_i has
  4 x 256 = 1024 dimensions.
- *Masking.* Padding tokens get no attention weight and do not enter T_avg
  (the backbone's `padding_mask`). The scores are the plain dot products of
  eq. 4, not scaled.
- *Classifier.* Three Dense layers, `classifier_units` = (256, 64) ReLU then 1
  output, with dropout between them; the same weights for every label (the
  paper computes each label's scalar "synchronously" with the same network).
- *Ablation rows.* "+ visual att" uses R_i = [T_avg; V_avg; V_i,att], "+ textual
  att" uses [T_avg; V_avg; T_i,att]. Without any attention (the
  "RoBERTa+ResNet-50" row) R would not depend on the label, so a shared
  1-output classifier would give every label the same score. We read that row
  as the usual multi-label head: the same three layers on [T_avg; V_avg] with
  22 outputs in the last one.
- *Image.* The paper crops to 224 x 224; the project's loader resizes the whole
  meme to `image_size` (memes carry text near the borders), and the model
  turns [0, 1] RGB into ResNet's "caffe" input itself, so an exported model
  serves raw bytes.

The model is three functional graphs sharing their layers:
`image_encoder` (image -> V), `fusion` (text inputs + V as "image_features" ->
probabilities) and the whole model (text inputs + "image" -> probabilities).
Since ResNet-50 is frozen and images are not augmented, training may feed
`fusion` precomputed V (the reproduction does), and the whole model, which is
what gets exported, gives the same outputs. `attention_weights(...)` returns
each label's weights over the tokens and the image regions.

Example:

    backbone = text_backbone("all_minilm_l6_v2")
    model = LabelAttentionFusion(backbone, image_size=224, image_weights="imagenet")
    preprocessor = text_preprocessor("all_minilm_l6_v2", sequence_length=128)
    probabilities = model({**preprocessor(texts), "image": images})   # (batch, 22)

Reference: the 1213Li team's system paper for SemEval-2021 Task 6 subtask 3
(ACL Anthology 2021.semeval-1.142), section 3.2.
"""

import keras
from keras import ops

RESNET_FEATURE_DIM = 2048
# keras.applications' ResNet50 "caffe" mode: BGR channel order, ImageNet means, no scaling.
IMAGENET_BGR_MEANS = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="memotion_tf")
class CaffePreprocessing(keras.layers.Layer):
    """RGB in [0, 1] -> ResNet-50's ImageNet input: x 255, RGB -> BGR, minus
    the ImageNet channel means (what `keras.applications.resnet50.preprocess_input`
    does to 0-255 RGB)."""

    def call(self, images):
        x = ops.flip(images * 255.0, axis=-1)
        return x - ops.convert_to_tensor(IMAGENET_BGR_MEANS, dtype=x.dtype)


@keras.saving.register_keras_serializable(package="memotion_tf")
class LabelEmbedding(keras.layers.Layer):
    """One learnable `dim`-vector per label, L_i in eq. 4, repeated over the
    batch of the tensor it is called on: (batch, num_labels, dim)."""

    def __init__(self, num_labels, dim, **kwargs):
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.dim = dim

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.num_labels, self.dim), initializer="glorot_uniform", name="embeddings"
        )

    def call(self, reference):
        batch = ops.shape(reference)[0]
        return ops.broadcast_to(self.embeddings[None], (batch, self.num_labels, self.dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_labels, self.dim)

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "dim": self.dim}


@keras.saving.register_keras_serializable(package="memotion_tf")
class LabelAttention(keras.layers.Layer):
    """Eq. 4-6 for every label at once: dot-product scores between each label
    embedding and each element of a sequence, a softmax over the sequence
    (masked elements get weight 0), and the weighted sum of the sequence.

    Call with `(labels (batch, labels, d), sequence (batch, n, d), mask (batch, n) or None)`;
    returns `(attended (batch, labels, d), weights (batch, labels, n))`.
    """

    def call(self, labels, sequence, mask=None):
        # The masked softmax runs in float32: under mixed_float16, -1e9 would be -inf.
        scores = ops.cast(ops.einsum("bld,bnd->bln", labels, sequence), "float32")
        if mask is not None:
            keep = ops.cast(mask, "bool")[:, None, :]
            scores = ops.where(keep, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        return ops.einsum("bln,bnd->bld", ops.cast(weights, sequence.dtype), sequence), weights

    def compute_output_shape(self, labels_shape, sequence_shape, mask_shape=None):
        return ((labels_shape[0], labels_shape[1], sequence_shape[2]),
                (labels_shape[0], labels_shape[1], sequence_shape[1]))


@keras.saving.register_keras_serializable(package="memotion_tf")
class MaskedAverage(keras.layers.Layer):
    """Mean over the sequence axis of the elements where `mask` is 1 (eq. 2)."""

    def call(self, sequence, mask=None):
        if mask is None:
            return ops.mean(sequence, axis=1)
        weights = ops.cast(mask, sequence.dtype)[:, :, None]
        return ops.sum(sequence * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, sequence_shape, mask_shape=None):
        return (sequence_shape[0], sequence_shape[2])


def resnet50_encoder(image_size=224, image_weights=None, name="image_encoder"):
    """image [0, 1] (size x size x 3) -> frozen ResNet-50's last convolution,
    reshaped to (regions, 2048): 49 regions at 224 x 224."""
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    resnet = keras.applications.ResNet50(
        include_top=False, weights=image_weights or None, input_shape=(image_size, image_size, 3)
    )
    resnet.trainable = False  # frozen: BatchNormalization also stays in inference mode
    x = CaffePreprocessing(name="imagenet_preprocessing")(image)
    x = resnet(x)
    x = keras.layers.Reshape((-1, RESNET_FEATURE_DIM), name="regions")(x)
    return keras.Model(image, x, name=name)


def tiny_encoder(image_size=64, image_weights=None, name="image_encoder"):
    """A test-sized stand-in with ResNet-50's contract: the same preprocessing,
    frozen, stride 32, (regions, 2048) out. ResNet-50 has no small
    configuration and its ~175 layers make every SavedModel export trace for
    tens of seconds; unit tests of the fusion machinery use this instead.
    No config of the paper uses it."""
    if image_weights:
        raise ValueError("the tiny image encoder has no pretrained weights; set image_weights empty")
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = CaffePreprocessing(name="imagenet_preprocessing")(image)
    x = keras.layers.Conv2D(8, 3, strides=4, padding="same", activation="relu", name="tiny_conv1")(x)
    x = keras.layers.Conv2D(RESNET_FEATURE_DIM, 3, strides=8, padding="same", activation="relu",
                            name="tiny_conv2")(x)
    x = keras.layers.Reshape((-1, RESNET_FEATURE_DIM), name="regions")(x)
    encoder = keras.Model(image, x, name=name)
    encoder.trainable = False
    return encoder


IMAGE_ENCODERS = {"resnet50": resnet50_encoder, "tiny": tiny_encoder}


def image_encoder(image_backbone="resnet50", image_size=224, image_weights=None):
    if image_backbone not in IMAGE_ENCODERS:
        raise ValueError(f"unknown image_backbone {image_backbone!r}; expected one of {sorted(IMAGE_ENCODERS)}")
    return IMAGE_ENCODERS[image_backbone](image_size, image_weights)


@keras.saving.register_keras_serializable(package="memotion_tf")
class LabelAttentionFusion(keras.Model):
    """Multi-label meme classifier with per-label attention over text tokens
    and image regions (1213Li, eq. 2-7). Outputs one sigmoid probability per label.

    Args:
        backbone: a keras-hub text backbone (BERT, RoBERTa, ...), fine-tuned with
            the model; its inputs (`token_ids`, `padding_mask`, and `segment_ids`
            for BERT) are the model's text inputs.
        num_labels: number of labels (22 techniques).
        image_size: square input side; 224 gives ResNet-50's 7 x 7 = 49 regions.
        image_weights: `weights=` of `keras.applications.ResNet50` ("imagenet"
            or empty for random init). `from_config` never downloads weights:
            a loaded model gets them from its file.
        label_dim: label-embedding size, also the common size T and V are projected to (256).
        text_attention, visual_attention: the ablation switches (eq. 4-6 over the
            tokens, over the regions). With both off, see the module docstring.
        classifier_units: the two hidden layers of the 3-layer classifier.
        dropout: dropout before each classifier layer.
        image_backbone: "resnet50" (the paper), or "tiny" (`tiny_encoder`, tests only).
    """

    def __init__(self, backbone, num_labels=22, image_size=224, image_weights="", label_dim=256,
                 text_attention=True, visual_attention=True, classifier_units=(256, 64),
                 dropout=0.1, image_backbone="resnet50", **kwargs):
        # === Layers ===
        self.backbone = backbone
        if "pooled_dense" in [layer.name for layer in backbone.layers]:
            # BERT's pooler is unused (the paper keeps the token representations only);
            # freezing it keeps gradient-less variables out of the optimizer.
            backbone.get_layer("pooled_dense").trainable = False
        self.image_encoder = image_encoder(image_backbone, image_size, image_weights)
        regions = self.image_encoder.output.shape[1]
        attention = text_attention or visual_attention

        # === Fusion graph: text inputs + image features -> probabilities ===
        text_in = _text_inputs(backbone)
        features_in = keras.Input(shape=(regions, RESNET_FEATURE_DIM), name="image_features")
        mask = text_in["padding_mask"]
        tokens = backbone(text_in)
        tokens = tokens["sequence_output"] if isinstance(tokens, dict) else tokens
        t = keras.layers.Dense(label_dim, name="text_projection")(tokens)
        v = keras.layers.Dense(label_dim, name="visual_projection")(features_in)
        parts = [MaskedAverage(name="text_average")(t, mask), MaskedAverage(name="visual_average")(v)]
        if attention:
            # T_avg and V_avg are the same for every label: repeat them next to each label's T_i,att, V_i,att.
            parts = [keras.layers.RepeatVector(num_labels, name=f"{name}_per_label")(p)
                     for name, p in zip(("text_average", "visual_average"), parts)]
            labels = LabelEmbedding(num_labels, label_dim, name="label_embedding")(t)
            if text_attention:
                parts.append(LabelAttention(name="text_attention")(labels, t, mask)[0])
            if visual_attention:
                parts.append(LabelAttention(name="visual_attention")(labels, v)[0])
        x = keras.layers.Concatenate(axis=-1, name="representation")(parts)
        for i, units in enumerate(classifier_units):
            x = keras.layers.Dropout(dropout, name=f"classifier_dropout{i + 1}")(x)
            x = keras.layers.Dense(units, activation="relu", name=f"classifier_dense{i + 1}")(x)
        x = keras.layers.Dropout(dropout, name=f"classifier_dropout{len(classifier_units) + 1}")(x)
        if attention:
            # The shared classifier maps each label's R_i to one logit.
            logits = keras.layers.Dense(1, name="classifier_logit")(x)
            logits = keras.layers.Reshape((num_labels,), name="logits")(logits)
        else:
            logits = keras.layers.Dense(num_labels, name="classifier_logit")(x)
        probabilities = keras.layers.Activation("sigmoid", dtype="float32", name="probabilities")(logits)
        self.fusion = keras.Model({**text_in, "image_features": features_in}, probabilities, name="fusion")

        # === Functional Model: text inputs + raw image -> probabilities ===
        inputs = _text_inputs(backbone)
        inputs["image"] = keras.Input(shape=(image_size, image_size, 3), name="image")
        features = self.image_encoder(inputs["image"])
        outputs = self.fusion({**{k: inputs[k] for k in text_in}, "image_features": features})
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_labels = num_labels
        self.image_size = image_size
        self.image_weights = image_weights or ""
        self.label_dim = label_dim
        self.text_attention = text_attention
        self.visual_attention = visual_attention
        self.classifier_units = tuple(classifier_units)
        self.dropout = dropout
        self.image_backbone = image_backbone
        self.regions = regions

    @property
    def text_input_names(self):
        return tuple(k for k in self.input if k != "image")

    def fusion_inputs(self, text_features, image_features):
        """The `fusion` graph's inputs from preprocessed text and precomputed V."""
        return {**{k: text_features[k] for k in self.text_input_names}, "image_features": image_features}

    def attention_weights(self, inputs):
        """Each label's attention weights: {"text": (batch, labels, tokens),
        "visual": (batch, labels, regions)}, for the switched-on attentions.

        `inputs` holds the text inputs and either "image" ([0, 1] pixels) or
        "image_features" (V, as `image_encoder` gives it)."""
        inputs = {k: ops.convert_to_tensor(v) for k, v in inputs.items()}
        if "image_features" not in inputs:
            inputs["image_features"] = self.image_encoder(inputs.pop("image"), training=False)
        outputs = {}
        if self.text_attention:
            outputs["text"] = self.fusion.get_layer("text_attention").output[1]
        if self.visual_attention:
            outputs["visual"] = self.fusion.get_layer("visual_attention").output[1]
        if not outputs:
            return {}
        probe = keras.Model(self.fusion.input, outputs)
        return probe({k: inputs[k] for k in self.fusion.input}, training=False)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
            "num_labels": self.num_labels,
            "image_size": self.image_size,
            "image_weights": self.image_weights,
            "label_dim": self.label_dim,
            "text_attention": self.text_attention,
            "visual_attention": self.visual_attention,
            "classifier_units": list(self.classifier_units),
            "dropout": self.dropout,
            "image_backbone": self.image_backbone,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        image_weights = config.pop("image_weights", "")
        model = cls(**config, image_weights="")  # weights come from the saved file, not a download
        model.image_weights = image_weights
        return model


def _text_inputs(backbone):
    """Fresh `keras.Input`s named and shaped like the backbone's inputs."""
    names = list(backbone.input) if isinstance(backbone.input, dict) else ["token_ids"]
    if "padding_mask" not in names:
        raise ValueError(f"the text backbone must take a padding_mask; its inputs are {names}")
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in names}


def average_ensemble(members, name="ensemble"):
    """One functional model averaging the probabilities of `members`
    (LabelAttentionFusion models with the same text inputs and image size).

    The members' ResNet-50s are frozen copies of the same weights, so the
    image goes through the first member's encoder once and every member's
    `fusion` graph reads those features; the SavedModel thus holds one ResNet-50.
    """
    import numpy as np

    first = members[0]
    reference = first.image_encoder.get_weights()
    for k, member in enumerate(members[1:], start=1):
        if member.text_input_names != first.text_input_names or member.image_size != first.image_size:
            raise ValueError(f"ensemble member {k} takes other inputs than member 0")
        if any(not np.array_equal(a, b) for a, b in zip(member.image_encoder.get_weights(), reference)):
            raise ValueError(f"ensemble member {k} has other ResNet-50 weights than member 0")
    inputs = _text_inputs(first.backbone)
    inputs = {k: inputs[k] for k in first.text_input_names}
    inputs["image"] = keras.Input(shape=(first.image_size, first.image_size, 3), name="image")
    features = first.image_encoder(inputs["image"])
    # Each member's fusion graph under its own name (the graphs share the members' layers).
    heads = [keras.Model(m.fusion.input, m.fusion.output, name=f"member_{k}") for k, m in enumerate(members)]
    outputs = [head(m.fusion_inputs(inputs, features)) for head, m in zip(heads, members)]
    average = keras.layers.Average(dtype="float32", name="probabilities")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, average, name=name)
