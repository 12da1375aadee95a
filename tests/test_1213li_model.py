"""1213Li's label-attention fusion model (eq. 2-7): the attention arithmetic by
hand, the paper's shapes, the ablation switches, one training step and the
SavedModel export of every variant, and the ensemble average.

Most tests use the "tiny" image encoder (ResNet-50's contract: caffe
preprocessing, frozen, stride 32, 2048 features per region) because tracing
ResNet-50 for a SavedModel takes tens of seconds on a CPU; the paper's shapes,
the .keras round trip and one export run on the real ResNet-50.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_1213li_model.py -q
"""

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.datasets.semeval21_task6 import TECHNIQUES, read_semeval21_task6, write_synthetic_semeval21_task6
from memotion_tf.models.label_attention import (
    CaffePreprocessing,
    LabelAttention,
    LabelAttentionFusion,
    MaskedAverage,
    average_ensemble,
)
from memotion_tf.models.pretrained import text_backbone, text_preprocessor
from tests.test_case import TestCase

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hate", "trump", "vote", "america", "fake",
         "news", "media", "war", "flag", "always", "never", "they", "we", "the", "a"]
TINY_BACKBONE = {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32}
IMAGE_SIZE = 64  # ResNet-50 downsamples by 32: 2 x 2 = 4 regions
VARIANTS = {  # Table 1's rows: (textual attention, visual attention)
    "RoBERTa+ResNet-50": (False, False),
    "+ visual att": (False, True),
    "+ textual att": (True, False),
    "+ full att": (True, True),
}
RESNET50_NO_TOP_PARAMS = 23_587_712  # keras.applications.ResNet50(include_top=False)


def tiny_model(text_attention=True, visual_attention=True, label_dim=8, image_size=IMAGE_SIZE,
               classifier_units=(8, 4), image_backbone="tiny"):
    backbone = text_backbone("", vocabulary_size=len(VOCAB), **TINY_BACKBONE)
    return LabelAttentionFusion(backbone, image_size=image_size, label_dim=label_dim,
                                text_attention=text_attention, visual_attention=visual_attention,
                                classifier_units=classifier_units, dropout=0.0, image_backbone=image_backbone)


def preprocessor(sequence_length=12):
    return text_preprocessor("", sequence_length=sequence_length, vocabulary=VOCAB)


def tiny_inputs(texts=("hate trump\n\nfake news", "vote", "they never always war flag the a"), seed=0):
    x = {k: tf.convert_to_tensor(v) for k, v in preprocessor()(tf.constant(list(texts))).items()}
    x["image"] = tf.random.stateless_uniform((len(texts), IMAGE_SIZE, IMAGE_SIZE, 3), seed=(seed, 1))
    return x


# ------------------------------------------------------------- the equations


def test_label_attention_by_hand():
    # Two labels, three elements, the third masked out (padding).
    labels = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)  # L_1, L_2
    sequence = np.array([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]], np.float32)  # T_1, T_2, T_3
    mask = np.array([[1, 1, 0]])
    attended, weights = LabelAttention()(labels, sequence, mask)
    e = math.e
    # L_1: scores S = [1, 0, (1 masked)] -> softmax over the first two: [e, 1] / (e + 1)
    # L_2: scores S = [0, 2, (1 masked)] -> [1, e^2] / (1 + e^2)
    expected = np.array([[[e / (e + 1), 1 / (e + 1), 0.0], [1 / (1 + e**2), e**2 / (1 + e**2), 0.0]]])
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    # T_att = sum_j a_j T_j: L_1 -> [e, 2] / (e + 1); L_2 -> [1, 2 e^2] / (1 + e^2)
    np.testing.assert_allclose(
        attended, [[[e / (e + 1), 2 / (e + 1)], [1 / (1 + e**2), 2 * e**2 / (1 + e**2)]]], rtol=1e-6)
    # Without a mask the third element takes part: L_1 scores [1, 0, 1].
    _, unmasked = LabelAttention()(labels, sequence)
    np.testing.assert_allclose(unmasked[0, 0], np.array([e, 1, e]) / (2 * e + 1), rtol=1e-6)


def test_masked_average_by_hand():
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], np.float32)
    np.testing.assert_allclose(MaskedAverage()(sequence, np.array([[1, 1, 0]])), [[2.0, 3.0]])
    np.testing.assert_allclose(MaskedAverage()(sequence), [[104 / 3, 106 / 3]], rtol=1e-6)


def test_caffe_preprocessing_matches_keras_applications():
    images = np.random.default_rng(0).random((2, 5, 5, 3)).astype("float32")
    expected = keras.applications.resnet50.preprocess_input(images * 255.0)
    np.testing.assert_allclose(CaffePreprocessing()(images), expected, atol=1e-4)


def test_paper_shapes():
    """224 x 224 -> 49 x 2048 regions, 256-d label space, R_i of 4 x 256, and
    exact head sizes of the four rows (text hidden size 16 here; RoBERTa's is 768)."""
    d, L, n = 16, 256, len(TECHNIQUES)
    projections = (d * L + L) + (2048 * L + L)  # text and visual projections to the label space
    expected_heads = {
        # representation width, then classifier Dense 256 -> Dense 64 -> logit(s)
        (False, False): projections + (2 * L * 256 + 256) + (256 * 64 + 64) + (64 * n + n),
        (False, True): projections + n * L + (3 * L * 256 + 256) + (256 * 64 + 64) + (64 + 1),
        (True, False): projections + n * L + (3 * L * 256 + 256) + (256 * 64 + 64) + (64 + 1),
        (True, True): projections + n * L + (4 * L * 256 + 256) + (256 * 64 + 64) + (64 + 1),
    }
    for (text_att, visual_att), head in expected_heads.items():
        model = tiny_model(text_att, visual_att, label_dim=L, image_size=224, classifier_units=(256, 64),
                           image_backbone="resnet50")
        assert model.image_encoder.output.shape[1:] == (49, 2048)
        assert model.regions == 49
        width = model.fusion.get_layer("representation").output.shape
        assert width[-1] == (2 + text_att + visual_att) * L
        if text_att or visual_att:
            assert width[1] == n  # one R_i per technique
        assert model.image_encoder.count_params() == RESNET50_NO_TOP_PARAMS
        assert model.count_params() - model.backbone.count_params() - RESNET50_NO_TOP_PARAMS == head
        # ResNet-50 is frozen; the text backbone (but its unused pooler) is fine-tuned.
        trainable = {id(v) for v in model.trainable_weights}
        assert not any(id(v) in trainable for v in model.image_encoder.weights)
        assert all(id(v) in trainable for v in model.backbone.get_layer("transformer_layer_0").weights)


# ----------------------------------------------------------------- attention


def test_attention_weights_sum_to_one_and_skip_padding():
    model = tiny_model()
    x = tiny_inputs()
    weights = model.attention_weights(x)
    mask = x["padding_mask"].numpy().astype(bool)
    text, visual = weights["text"].numpy(), weights["visual"].numpy()
    assert text.shape == (3, len(TECHNIQUES), mask.shape[1]) and visual.shape == (3, len(TECHNIQUES), 4)
    np.testing.assert_allclose(text.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(visual.sum(-1), 1.0, atol=1e-5)
    assert np.all(text[~np.broadcast_to(mask[:, None, :], text.shape)] == 0), "padding gets no weight"
    assert np.all(text[np.broadcast_to(mask[:, None, :], text.shape)] > 0)
    # The same weights from precomputed image features.
    features = model.image_encoder(x["image"])
    again = model.attention_weights({**{k: x[k] for k in model.text_input_names}, "image_features": features})
    np.testing.assert_allclose(again["visual"], visual, atol=1e-6)


def test_attention_responds_to_the_label_embedding():
    model = tiny_model()
    x = tiny_inputs()
    layer = model.fusion.get_layer("label_embedding")
    before = model.attention_weights(x)
    # Different labels have different embeddings, hence different weights.
    assert np.abs(before["text"][:, 0] - before["text"][:, 1]).max() > 1e-4
    assert np.abs(before["visual"][:, 0] - before["visual"][:, 1]).max() > 1e-4
    # Give label 1 the embedding of label 0: their weights become identical ...
    embeddings = layer.embeddings.numpy()
    changed = embeddings.copy()
    changed[1] = embeddings[0]
    layer.embeddings.assign(changed)
    after = model.attention_weights(x)
    np.testing.assert_allclose(after["text"][:, 1], after["text"][:, 0], atol=1e-6)
    np.testing.assert_allclose(after["visual"][:, 1], after["visual"][:, 0], atol=1e-6)
    # ... while the other labels, whose embeddings did not change, keep theirs.
    np.testing.assert_allclose(after["text"][:, 2:], before["text"][:, 2:], atol=1e-6)
    # Scaling an embedding sharpens its softmax: weights change, still sum to 1.
    changed[3] = embeddings[3] * 4.0
    layer.embeddings.assign(changed)
    scaled = model.attention_weights(x)
    assert np.abs(scaled["text"][:, 3] - before["text"][:, 3]).max() > 1e-3
    np.testing.assert_allclose(scaled["text"].numpy().sum(-1), 1.0, atol=1e-5)


def test_ablation_switches():
    for system, (text_att, visual_att) in VARIANTS.items():
        model = tiny_model(text_att, visual_att)
        names = {layer.name for layer in model.fusion.layers}
        assert ("text_attention" in names) == text_att, system
        assert ("visual_attention" in names) == visual_att, system
        assert ("label_embedding" in names) == (text_att or visual_att), system
        weights = model.attention_weights(tiny_inputs())
        assert sorted(weights) == sorted(k for k, on in (("text", text_att), ("visual", visual_att)) if on)
        assert model(tiny_inputs()).shape == (3, len(TECHNIQUES))


# ------------------------------------------------------------ model contract


class LabelAttentionFusionTest(TestCase):
    def test_fusion_graph_on_features_equals_the_whole_model(self):
        model = tiny_model()
        x = tiny_inputs()
        whole = model(x, training=False)
        features = model.image_encoder(x["image"], training=False)
        self.assertAllClose(model.fusion(model.fusion_inputs(x, features), training=False), whole, atol=1e-6)
        self.assertTrue(np.all((whole.numpy() > 0) & (whole.numpy() < 1)))  # sigmoid, not softmax

    def test_config_round_trip_and_keras_file(self):
        model = tiny_model(image_backbone="resnet50")
        x = tiny_inputs()
        clone = LabelAttentionFusion.from_config(model.get_config())
        self.assertEqual(clone.get_config(), model.get_config())
        self.assertEqual(clone.count_params(), model.count_params())
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertAllClose(restored(x, training=False), model(x, training=False), atol=1e-6)


@pytest.fixture(scope="module")
def memes(tmp_path_factory):
    corpus = write_synthetic_semeval21_task6(tmp_path_factory.mktemp("s21") / "corpus", sizes=(6, 0, 0), seed=4)
    return read_semeval21_task6(corpus, "train")


# Each export traces the model for seconds (ResNet-50: tens of seconds), so the fast suite exports
# the two kinds of head here (22 outputs; shared per-label classifier) and the other two variants
# through tests/test_1213li_reproduction.py, which exports all four rows and checks each SavedModel.
@pytest.mark.parametrize("system", [
    "RoBERTa+ResNet-50",
    pytest.param("+ visual att", marks=pytest.mark.large),
    pytest.param("+ textual att", marks=pytest.mark.large),
    "+ full att",
])
def test_variant_trains_a_step_and_exports(system, memes, tmp_path):
    train_step_and_export(system, memes, tmp_path, image_backbone="tiny")


@pytest.mark.large
def test_resnet50_model_trains_a_step_and_exports(memes, tmp_path):
    """The paper's image path in the SavedModel (fast counterpart: the tiny-encoder
    variants above, and the quick reproduction, which checks every export)."""
    train_step_and_export("+ full att", memes, tmp_path, image_backbone="resnet50")


def train_step_and_export(system, memes, tmp_path, image_backbone):
    from memotion_tf.export import export_classifier, load_exported
    from memotion_tf.input_pipeline import meme_dataset

    text_att, visual_att = VARIANTS[system]
    keras.utils.set_random_seed(0)
    model = tiny_model(text_att, visual_att, image_backbone=image_backbone)
    frame, targets = memes.frame, memes.targets
    pre = preprocessor(sequence_length=24)
    resnet_before = [w.copy() for w in model.image_encoder.get_weights()]
    head_before = model.fusion.get_layer("classifier_logit").get_weights()[0].copy()
    text_before = model.backbone.get_layer("token_embedding").get_weights()[0].copy()

    # One BCE / Adam step of the fusion graph on precomputed features (as the reproduction trains).
    ds = meme_dataset(frame, modalities=("text", "image"), batch_size=8, vectorizer=pre,
                      image_size=IMAGE_SIZE, targets=targets)
    x, y = next(iter(ds))
    features = model.image_encoder.predict(x["image"], verbose=0)
    model.fusion.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    loss = model.fusion.train_on_batch(model.fusion_inputs(x, features), y)
    assert np.isfinite(loss)
    assert np.abs(model.fusion.get_layer("classifier_logit").get_weights()[0] - head_before).max() > 0
    assert np.abs(model.backbone.get_layer("token_embedding").get_weights()[0] - text_before).max() > 0
    for before, after in zip(resnet_before, model.image_encoder.get_weights()):
        np.testing.assert_array_equal(before, after)  # frozen, BatchNorm statistics included

    # The whole model (raw pixels) after the step, and its SavedModel on raw text + image bytes.
    expected = model.predict(meme_dataset(frame, modalities=("text", "image"), batch_size=4, vectorizer=pre,
                                          image_size=IMAGE_SIZE), verbose=0)
    np.testing.assert_allclose(model.fusion.predict(model.fusion_inputs(x, features), verbose=0), expected,
                               atol=1e-5)
    path = str(tmp_path / "saved_model")
    export_classifier(model, path, class_names=TECHNIQUES, vectorizer=pre, image_size=IMAGE_SIZE,
                      multi_label=True, threshold=0.5, metadata={"system": system})
    serve, meta, _ = load_exported(path)
    images = [open(p, "rb").read() for p in frame["image_path"]]
    out = serve(text=tf.constant(frame["text"].tolist()), image=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(out["predicted"], (expected >= 0.5).astype(np.int32))
    for label, row in zip(out["label"].numpy(), expected):
        assert label.decode() == " | ".join(t for t, p in zip(TECHNIQUES, row) if p >= 0.5)
    assert meta["multi_label"] is True and meta["class_names"] == list(TECHNIQUES)


def test_average_ensemble_averages_the_members():
    members = [tiny_model() for _ in range(3)]
    for member in members[1:]:
        member.image_encoder.set_weights(members[0].image_encoder.get_weights())
    x = tiny_inputs()
    ensemble = average_ensemble(members)
    expected = np.mean([m(x, training=False).numpy() for m in members], axis=0)
    np.testing.assert_allclose(ensemble(x, training=False), expected, atol=1e-6)
    # One image encoder in the ensemble, three text backbones and heads.
    encoder = members[0].image_encoder.count_params()
    assert ensemble.count_params() == encoder + sum(m.count_params() - encoder for m in members)
    other = tiny_model()  # its own random image encoder
    with pytest.raises(ValueError, match="other ResNet-50 weights"):
        average_ensemble([members[0], other])


# ------------------------------------------------------------ the image crop


def thirds(height=40, width=120):
    """A wide picture: red, green and blue thirds from left to right."""
    image = np.zeros((height, width, 3), np.uint8)
    for channel in range(3):
        image[:, channel * width // 3:(channel + 1) * width // 3, channel] = 255
    return image


def test_center_crop_keeps_the_middle_square_unsquashed():
    """Section 3.2.1 crops to 224 x 224: the centred square of a 3:1 picture is its
    green third alone; the squashing resize keeps all three colours."""
    from memotion_tf.preprocessing.image import decode_image

    wide = tf.io.encode_png(thirds())
    green = np.broadcast_to(np.float32([0, 1, 0]), (20, 20, 3))
    np.testing.assert_allclose(decode_image(wide, 20, crop=True), green, atol=1e-6)
    squashed = decode_image(wide, 20).numpy()
    assert squashed[:, 0, 0].min() > 0.99 and squashed[:, -1, 2].min() > 0.99 and squashed[:, 10, 1].min() > 0.99
    tall = tf.io.encode_png(np.transpose(thirds(), (1, 0, 2)))  # red, green, blue from top to bottom
    np.testing.assert_allclose(decode_image(tall, 20, crop=True), green, atol=1e-6)
    square = tf.io.encode_png(thirds(60, 60))  # nothing to cut: the same as the plain resize
    np.testing.assert_allclose(decode_image(square, 20, crop=True), decode_image(square, 20), atol=1e-6)


def test_saved_model_crops_as_training_did(tmp_path):
    """`export_classifier(crop=True)`: the SavedModel on the raw bytes of a wide
    meme gives the model's output on the centre-cropped picture (not on the squashed one)."""
    from memotion_tf.export import export_classifier, load_exported
    from memotion_tf.preprocessing.image import decode_image

    keras.utils.set_random_seed(3)
    model = tiny_model()
    pre = preprocessor()
    pixels = np.random.default_rng(0).integers(0, 256, (64, 160, 3), dtype=np.uint8)
    data = tf.io.encode_png(pixels)
    text = tf.constant(["hate trump\n\nfake news"])
    x = {k: tf.convert_to_tensor(v) for k, v in pre(text).items()}
    cropped = model({**x, "image": decode_image(data, IMAGE_SIZE, crop=True)[None]}, training=False).numpy()
    squashed = model({**x, "image": decode_image(data, IMAGE_SIZE)[None]}, training=False).numpy()
    assert np.abs(cropped - squashed).max() > 1e-4  # the crop changes what the model sees
    path = str(tmp_path / "saved_model")
    export_classifier(model, path, class_names=TECHNIQUES, vectorizer=pre, image_size=IMAGE_SIZE,
                      multi_label=True, crop=True, metadata={"system": "+ full att"})
    serve, meta, _ = load_exported(path)
    out = serve(text=text, image=tf.reshape(data, [1]))
    np.testing.assert_allclose(out["probabilities"], cropped, atol=1e-5)
    assert meta["image_crop"] == "center"


# ------------------------------------------------------------------ learning


def test_fits_a_small_batch(memes):
    """Gradients reach every part (backbone, projections, label embeddings,
    classifier) and the shared classifier's scores depend on the label and the
    meme: 80 Adam steps on six memes bring the BCE below half that of the best
    single probability for every label and meme (the share of positive entries)."""
    keras.utils.set_random_seed(1)
    backbone = text_backbone("", vocabulary_size=30522, **TINY_BACKBONE)  # the embedded MiniLM vocabulary
    model = LabelAttentionFusion(backbone, image_size=IMAGE_SIZE, label_dim=8, classifier_units=(8, 4),
                                 dropout=0.0, image_backbone="tiny")
    pre = text_preprocessor("", sequence_length=48)
    x = {k: np.asarray(v) for k, v in pre(tf.constant(memes.frame["text"].tolist())).items()}
    images = np.stack([tf.image.resize(tf.io.decode_image(open(p, "rb").read(), channels=3), (64, 64)).numpy()
                       for p in memes.frame["image_path"]]) / 255.0
    features = model.image_encoder.predict(images, verbose=0)
    inputs = model.fusion_inputs(x, features)
    model.fusion.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    embeddings = model.fusion.get_layer("label_embedding").embeddings.numpy().copy()
    y = memes.targets
    p = y.mean()
    constant_bce = float(-(p * np.log(p) + (1 - p) * np.log(1 - p)))
    first = model.fusion.evaluate(inputs, y, verbose=0)
    model.fusion.fit(inputs, y, epochs=80, batch_size=6, verbose=0)
    last = model.fusion.evaluate(inputs, y, verbose=0)
    assert last < 0.5 * constant_bce < first
    assert np.abs(model.fusion.get_layer("label_embedding").embeddings.numpy() - embeddings).max() > 1e-3


@pytest.mark.large
def test_quick_full_att_learns_the_synthetic_signal(tmp_path, monkeypatch):
    """The quick profile's "+ full att" (MiniLM, frozen random ResNet-50, its epochs)
    on the embedded-size synthetic corpus ranks each technique's memes above the
    others (mean ROC AUC) and beats every constant prediction in micro F1."""
    from sklearn.metrics import roc_auc_score

    from memotion_tf.evaluation.semeval21_task6 import score
    from memotion_tf.papers import get_paper
    from memotion_tf.papers import team_1213li as li
    from memotion_tf.runner import Progress, RunContext
    from memotion_tf.training.strategy import get_strategy

    monkeypatch.setenv("MEMOTION_TF_HOME", str(tmp_path / "home"))  # the features cache
    config = next(c for c in get_paper("1213li").load_configs("quick") if c.system == "+ full att")
    corpus = write_synthetic_semeval21_task6(tmp_path / "corpus", sizes=(687, 63, 0), seed=7)
    splits = {name: li.read_corpus(corpus, progress=False)[name] for name in ("train", "dev")}
    inputs = li.Inputs(config, splits, str(corpus))
    train, dev = splits["train"], splits["dev"]
    ctx = RunContext(seed=0, strategy=get_strategy(0), folder=str(tmp_path / "row"),
                     backup_dir=str(tmp_path / "row" / "backup"), verbose=0, progress=Progress(config.epochs))
    _, _, probabilities = li.train_member(
        config, inputs, (inputs.tokens["train"], inputs.features("train"), train.targets),
        (inputs.tokens["dev"], inputs.features("dev"), dev.targets, lambda labels: li.score_labels(dev, labels)),
        seed=0, ctx=ctx)
    y = dev.targets
    both = (y.sum(0) > 0) & (y.sum(0) < len(y))
    assert roc_auc_score(y[:, both], probabilities[:, both], average="macro") > 0.65  # chance: 0.5
    order = np.argsort(-train.targets.mean(0))
    best_constant = max(score(dev.gold, [[TECHNIQUES[j] for j in order[:k]]] * len(dev.gold))["micro_f1"]
                        for k in range(1, len(TECHNIQUES) + 1))
    ours = score(dev.gold, [[t for t, p in zip(TECHNIQUES, row) if p > 0.5] for row in probabilities])
    assert ours["micro_f1"] > best_constant + 0.05


def test_roberta_backbone_path():
    """PROFILE=paper's backbone family: RoBERTa takes no segment_ids and returns
    the token sequence itself (BERT returns a dict); the model follows it."""
    import keras_hub

    merges = ["Ġ q", "u i", "c k", "ui ck", "Ġq uick", "Ġ f", "o x", "Ġf ox", "Ġ a", "Ċ Ċ"]
    tokens = ["<s>", "<pad>", "</s>", "<mask>", "a"]  # every merge part and result is in the vocabulary
    for merge in merges:
        for token in merge.split(" ") + [merge.replace(" ", "")]:
            tokens += [token] if token not in tokens else []
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=vocab, merges=merges)
    pre = keras_hub.models.RobertaTextClassifierPreprocessor(tokenizer, sequence_length=10)
    backbone = keras_hub.models.RobertaBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2,
                                                hidden_dim=8, intermediate_dim=16, max_sequence_length=10)
    model = LabelAttentionFusion(backbone, image_size=IMAGE_SIZE, label_dim=8, classifier_units=(8, 4),
                                 image_backbone="tiny")
    assert model.text_input_names == ("token_ids", "padding_mask")
    x = {k: tf.convert_to_tensor(v) for k, v in pre(tf.constant(["a quick fox\n\na fox", "a"])).items()}
    assert sorted(x) == ["padding_mask", "token_ids"]
    x["image"] = tf.random.stateless_uniform((2, IMAGE_SIZE, IMAGE_SIZE, 3), seed=(2, 3))
    assert model(x).shape == (2, len(TECHNIQUES))
    text = model.attention_weights(x)["text"].numpy()
    mask = x["padding_mask"].numpy().astype(bool)
    np.testing.assert_allclose(text.sum(-1), 1.0, atol=1e-5)
    assert np.all(text[~np.broadcast_to(mask[:, None, :], text.shape)] == 0)
    clone = LabelAttentionFusion.from_config(model.get_config())
    assert isinstance(clone.backbone, keras_hub.models.RobertaBackbone)
