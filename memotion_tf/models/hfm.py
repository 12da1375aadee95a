"""Hierarchical Fusion Model (Cai et al., 2019) as CN-HIT-MI.T's `HFM` row uses it.

Three modalities, each a set of "raw vectors" and a "guidance vector" (their mean):

- image regions: the ResNet's last feature map, one vector per cell (7x7 at 224 px);
- image attributes: `num_attributes` learned attribute embeddings, weighted by
  an attribute classifier on the pooled image;
- text: BERT's token states, re-read by a BiLSTM whose initial states come
  from the attribute guidance vector ("early fusion").

Then (section 3 of Cai et al.):
1. representation fusion: each modality's raw vectors are attention-pooled,
   the attention guided by the other modalities' guidance vectors;
2. modality fusion: the three pooled vectors are projected to `hidden_units`
   and averaged with softmax weights from a small scoring network;
3. a two-layer classifier.

Simplified relative to Cai et al. (and written in the README):
- attributes are latent: Memotion has no attribute labels, so the attribute
  classifier is trained end to end and its "attributes" are learned embeddings
  (Cai et al. predict five words with a ResNet trained on external data and
  embed them with GloVe);
- the text encoder is BERT followed by the BiLSTM (Cai et al.: GloVe + BiLSTM);
- in representation fusion each modality is guided by the mean of the two
  other guidance vectors, instead of one attention per guiding modality.
"""

import keras

from memotion_tf.models.bert_classifier import TextBackboneModel, backbone_inputs
from memotion_tf.models.resnet import resnet_feature_map


@keras.saving.register_keras_serializable(package="memotion_tf")
class GuidedAttentionPooling(keras.layers.Layer):
    """Attention pooling of raw vectors r_i [B, N, d] guided by g [B, e]:

        alpha = softmax_i(w^T tanh(W_r r_i + W_g g)),    out = sum_i alpha_i r_i

    A boolean `mask` [B, N] excludes padding. With `return_attention=True`
    the call also returns alpha [B, N].
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True  # the mask is consumed here, see compute_mask
        self.raw_projection = keras.layers.Dense(units, use_bias=True, name="raw_projection")
        self.guide_projection = keras.layers.Dense(units, use_bias=False, name="guide_projection")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def build(self, raw_shape, guide_shape, mask_shape=None):
        self.raw_projection.build(raw_shape)
        self.guide_projection.build(guide_shape)
        self.score.build((*raw_shape[:-1], self.units))
        self.built = True

    def call(self, raw, guide, mask=None, return_attention=False):
        hidden = keras.ops.tanh(self.raw_projection(raw) + keras.ops.expand_dims(self.guide_projection(guide), 1))
        # The masked softmax runs in float32: under mixed_float16, -1e9 would be -inf.
        scores = keras.ops.cast(keras.ops.squeeze(self.score(hidden), -1), "float32")
        if mask is not None:
            scores = keras.ops.where(keras.ops.cast(mask, "bool"), scores, keras.ops.full_like(scores, -1e9))
        attention = keras.ops.softmax(scores, axis=-1)
        pooled = keras.ops.sum(raw * keras.ops.expand_dims(keras.ops.cast(attention, raw.dtype), -1), axis=1)
        return (pooled, attention) if return_attention else pooled

    def compute_output_shape(self, raw_shape, guide_shape, mask_shape=None):
        return (raw_shape[0], raw_shape[-1])

    def compute_mask(self, raw, guide, mask=None):
        return None

    def get_config(self):
        return dict(super().get_config(), units=self.units)


@keras.saving.register_keras_serializable(package="memotion_tf")
class LatentAttributes(keras.layers.Layer):
    """Attribute vectors from a pooled image: p = softmax(Dense(image)), raw
    vectors p_j * E_j * A ([B, A, d]) and guidance sum_j p_j E_j ([B, d])."""

    def __init__(self, num_attributes, units, **kwargs):
        super().__init__(**kwargs)
        self.num_attributes = num_attributes
        self.units = units
        self.classifier = keras.layers.Dense(num_attributes, name="attribute_logits")

    def build(self, image_shape):
        self.classifier.build(image_shape)
        self.embeddings = self.add_weight(shape=(self.num_attributes, self.units),
                                          initializer="glorot_uniform", name="attribute_embeddings")
        self.built = True

    def call(self, pooled_image):
        p = keras.ops.softmax(self.classifier(pooled_image), axis=-1)
        raw = keras.ops.expand_dims(p, -1) * self.embeddings * float(self.num_attributes)
        guide = keras.ops.matmul(p, self.embeddings)
        return raw, guide

    def compute_output_shape(self, image_shape):
        return (image_shape[0], self.num_attributes, self.units), (image_shape[0], self.units)

    def get_config(self):
        return dict(super().get_config(), num_attributes=self.num_attributes, units=self.units)


@keras.saving.register_keras_serializable(package="memotion_tf")
class ModalityFusion(keras.layers.Layer):
    """Weighted average of modality vectors: v'_m = tanh(W_m v_m),
    alpha = softmax_m(w^T tanh(U v'_m)), out = sum_m alpha_m v'_m."""

    def __init__(self, units, num_modalities, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.num_modalities = num_modalities
        self.projections = [keras.layers.Dense(units, activation="tanh", name=f"projection_{i}")
                            for i in range(num_modalities)]
        self.hidden = keras.layers.Dense(units, activation="tanh", name="score_hidden")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def build(self, shapes):
        for projection, shape in zip(self.projections, shapes):
            projection.build(shape)
        self.hidden.build((None, self.units))
        self.score.build((None, self.units))
        self.built = True

    def call(self, vectors):
        projected = keras.ops.stack([p(v) for p, v in zip(self.projections, vectors)], axis=1)
        weights = keras.ops.softmax(keras.ops.squeeze(self.score(self.hidden(projected)), -1), axis=-1)
        return keras.ops.sum(projected * keras.ops.expand_dims(weights, -1), axis=1)

    def compute_output_shape(self, shapes):
        return (shapes[0][0], self.units)

    def get_config(self):
        return dict(super().get_config(), units=self.units, num_modalities=self.num_modalities)


@keras.saving.register_keras_serializable(package="memotion_tf")
class HierarchicalFusionModel(TextBackboneModel):
    """HFM: text, image-region and image-attribute features fused in three stages.

    Args:
        backbone: keras-hub text backbone (see `BertClassifier`).
        num_classes: output classes.
        image_size, depth, weights, bn_momentum: the ResNet (see `ResNetClassifier`).
        hidden_units: width of region vectors, attribute embeddings, the BiLSTM
            (per direction) and the fused vector.
        num_attributes: number of latent attributes.
        dropout: dropout before the classifier.

    Reference: Cai, Cai and Wan, "Multi-Modal Sarcasm Detection in Twitter with
    Hierarchical Fusion Model", ACL 2019.
    """

    modalities = ("text", "image")
    image_backbone = True

    def __init__(self, backbone, num_classes=3, image_size=224, depth=101, weights=None,
                 hidden_units=64, num_attributes=16, dropout=0.2, bn_momentum=None,
                 **kwargs):
        # === Layers ===
        self.backbone = backbone
        # === Functional Model ===
        inputs = backbone_inputs(backbone)
        inputs["image"] = keras.Input(shape=(image_size, image_size, 3), name="image")
        text_inputs = {k: v for k, v in inputs.items() if k != "image"}
        # Image regions: one vector per cell of the last feature map.
        feature_map = resnet_feature_map(inputs["image"], depth, image_size, weights, bn_momentum=bn_momentum)
        regions = keras.layers.Reshape((-1, feature_map.shape[-1]), name="regions")(feature_map)
        regions = keras.layers.Dense(hidden_units, activation="relu", name="region_dense")(regions)
        image_guide = keras.layers.GlobalAveragePooling1D(name="region_mean")(regions)
        # Image attributes.
        pooled = keras.layers.GlobalAveragePooling2D(name="image_pool")(feature_map)
        attributes, attribute_guide = LatentAttributes(num_attributes, hidden_units, name="attributes")(pooled)
        # HFM reads BERT's token states; its pooler stays as it is.
        if "pooled_dense" in [layer.name for layer in backbone.layers]:
            backbone.get_layer("pooled_dense").trainable = False
        # Text, with the BiLSTM's initial states from the attribute guidance (early fusion).
        tokens = backbone(text_inputs)
        tokens = tokens["sequence_output"] if isinstance(tokens, dict) else tokens
        states = [keras.layers.Dense(hidden_units, activation="relu", name=f"early_fusion_{s}")(attribute_guide)
                  for s in ("h_forward", "c_forward", "h_backward", "c_backward")]
        mask = text_inputs.get("padding_mask")
        words = keras.layers.Bidirectional(
            keras.layers.LSTM(hidden_units, return_sequences=True), name="text_bilstm",
        )(tokens, initial_state=states, mask=mask)
        text_guide = keras.layers.GlobalAveragePooling1D(name="text_mean")(words, mask=mask)
        # Representation fusion: each modality pooled under the others' guidance.
        text_guide = keras.layers.Dense(hidden_units, name="text_guide")(text_guide)
        text = GuidedAttentionPooling(hidden_units, name="text_attention")(
            words, keras.layers.Average(name="guide_for_text")([image_guide, attribute_guide]), mask=mask)
        image = GuidedAttentionPooling(hidden_units, name="region_attention")(
            regions, keras.layers.Average(name="guide_for_regions")([text_guide, attribute_guide]))
        attribute = GuidedAttentionPooling(hidden_units, name="attribute_attention")(
            attributes, keras.layers.Average(name="guide_for_attributes")([text_guide, image_guide]))
        # Modality fusion and the classifier.
        x = ModalityFusion(hidden_units, 3, name="modality_fusion")([text, image, attribute])
        x = keras.layers.Dense(hidden_units, activation="relu", name="classifier_dense")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        # The output layer stays float32 under a mixed precision policy (stable softmax and loss).
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config ===
        self.num_classes = num_classes
        self.image_size = image_size
        self.depth = depth
        self.hidden_units = hidden_units
        self.num_attributes = num_attributes
        self.dropout = dropout
        self.bn_momentum = bn_momentum

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "backbone": keras.layers.serialize(self.backbone), "num_classes": self.num_classes,
                "image_size": self.image_size, "depth": self.depth,
                "hidden_units": self.hidden_units, "num_attributes": self.num_attributes,
                "dropout": self.dropout, "bn_momentum": self.bn_momentum}
