"""1213Li at SemEval-2021 Task 6: Detection of Propaganda with Multi-modal
Attention and Pre-trained Models. Li, Li, Sun. SemEval-2021, ACL Anthology
2021.semeval-1.142. Subtask 3: the ablation (Table 1, dev set) and the 5-model
ensemble (Table 2, test set).

    corpus (official layout or embedded synthetic) -> image check -> tokens
    -> frozen ResNet-50 features, computed once per image (and cached on disk)
    -> per row: train the label-attention model (BCE, Adam) on train, keep the
       epoch with the best dev micro-F1, score dev (Table 1), export, check the export
    -> ensemble: "+ full att" on the official split and on four splits where 64
       random memes of train+dev are the dev set; average the test
       probabilities, threshold, write and check the official predictions file,
       score it (Table 2) beside the leaderboard
    -> the "k most frequent techniques" priors on dev and test (baselines)

Where everything is:
- data: `datasets/semeval21_task6.py` (reader, synthetic writer); scorer and
  prediction files: `evaluation/semeval21_task6.py`
- model: `models/label_attention.py` (eq. 2-7, the ensemble average)
- configs: `configs/1213li/`; pipeline: `pipelines/1213li.py`; notebook:
  `notebooks/1213li.ipynb`
The paper's name starts with a digit, which a Python module name cannot: hence
`team_1213li`.

Frozen image features. ResNet-50 is frozen and images are not augmented, so its
49 x 2048 output for a meme never changes during training. It runs once per
image (one reference ResNet-50 per reproduction, whose weights every model
copies; with random init that makes every row see the same features), each
model's `fusion` graph trains on those features, and the whole model (raw text
+ image bytes -> 22 probabilities) is exported. After each export the
SavedModel is run on raw memes and compared with the in-memory model
(`export_check` in results.json).

Every meme of a gold file is scored. A meme whose image cannot be read is not
trained on; on dev and test it gets no technique (as in the predictions file,
which the official scorer requires to hold every gold id) and is counted.
"""

import dataclasses
import json
import logging
import os

import numpy as np

from memotion_tf import config as config_lib
from memotion_tf.datasets.semeval21_task6 import SPLITS, TECHNIQUES, multi_hot, read_semeval21_task6
from memotion_tf.io import atomic_directory, atomic_file, atomic_write_json
from memotion_tf.papers.base import Paper, Run, Unit, check_keys, config_signature, constructor_arguments, slug

log = logging.getLogger("memotion_tf")

TABLE1, TABLE2 = "Table 1 (dev)", "Table 2 (test)"
# Table 2 of the paper: the official leaderboard (top 5 and the organisers'
# baseline) on the blind test set, as reported there: (rank, team, macro F1, micro F1).
LEADERBOARD = (
    (1, "Alpha", 0.27315, 0.58109),
    (2, "MinD", 0.24389, 0.56623),
    (3, "1213Li", 0.22830, 0.54860),
    (4, "AIMH", 0.20729, 0.53994),
    (5, "Volta", 0.18877, 0.52070),
    (16, "Baseline", 0.05152, 0.07062),
)
# micro_f1: the official ranking metric. macro_f1: the task's scorer (zero_division=1).
# macro_f1_zero_division_0: the same with sklearn's default, which the paper's Table 1 used (see NOTES).
METRICS = ("micro_f1", "macro_f1", "macro_f1_zero_division_0")
PRIOR_SIZES = (1, 2, 3, 4)
NOTES = (
    "Micro F1 is the official ranking metric. Scores are computed as the task's scorer (scorer/task1_3.py of "
    "the corpus repository) does: MultiLabelBinarizer over the 22 techniques, scikit-learn F1 with "
    "zero_division=1, so a technique with no gold and no predicted meme counts 1 in the macro average.",
    "Which scorer gave the paper's numbers: Table 2 is the official leaderboard (task1_3.py; every technique "
    "occurs in the 200 test memes, so zero_division does not matter there). Table 1 cannot be the official "
    "scorer: three techniques (Black-and-white Fallacy, Obfuscation, Red Herring) have no dev meme, so with "
    "zero_division=1 any model that never predicts them scores macro F1 >= 3/22 = 0.136, yet the paper "
    "reports 0.0812-0.1155 for three rows, one of them with micro F1 0.5256. Those numbers fit scikit-learn's "
    "default (zero_division 0, as the corpus's first scorer, scorer/task3.py before 2020-11-16, had). "
    "Table 1 therefore prints both macro F1s; compare the paper with the zero_division=0 column.",
    "Every meme of a gold file is scored; a meme whose image cannot be read gets no technique (and is counted).",
    "Table 1: each row trains on train and is scored on dev at the epoch with the best dev micro F1 (the paper "
    "picks its models on dev), so the dev numbers are optimistic, as the paper's are; 63 dev memes make them "
    "noisy (one meme's labels move micro F1 by about 0.01-0.02).",
    "Table 2: five `+ full att` models (the official split and four splits with 64 random memes of "
    "train+dev as dev), test probabilities averaged, then the threshold (the paper gives none).",
    "Baselines in italics: every meme gets the k techniques most frequent in the training labels "
    "(k = 1..4), scored by the same code on the same split.",
)


# ---------------------------------------------------------------------- data


@dataclasses.dataclass
class Split:
    """One split: the memes usable for training (readable image) and every meme
    of the gold file (for scoring and the predictions file).

    Attributes:
        frame: the reader's rows whose image decodes (unreadable ones dropped).
        targets: (memes, 22) multi-hot of `frame`, TECHNIQUES order.
        skipped: [(row, path, reason)] of the memes dropped for their image.
        all_ids, all_gold: every meme of the file, in file order.
    """

    frame: object
    targets: np.ndarray
    skipped: list
    all_ids: list
    all_gold: list

    @property
    def ids(self):
        return [str(i) for i in self.frame["id"]]

    @property
    def gold(self):
        return [list(labels) for labels in self.frame["labels"]]

    @property
    def gold_map(self):
        """id -> gold labels of every meme of the file."""
        return dict(zip(self.all_ids, self.all_gold))

    def every_meme(self, label_lists):
        """id -> labels for every meme of the gold file: `label_lists` for the
        readable memes (in `frame` order), none for the memes without a readable image."""
        predicted = dict(zip(self.ids, label_lists))
        return {i: predicted.get(i, []) for i in self.all_ids}


def read_corpus(data_dir, progress=True, config=None):
    """Read and image-check the three splits (from the files, or through TFDS
    when `config.data_source` says so). A meme whose image is missing or
    unreadable is reported, kept out of training and counted in `skipped`."""
    from memotion_tf.datasets.common import check_images
    from memotion_tf.papers.memotion import read_records

    config = config or config_lib.ExperimentConfig(dataset="semeval21_task6", task="3")
    splits = {}
    for name in SPLITS:
        data = read_records(config, data_dir, read_semeval21_task6, split=name)
        ids, gold = [str(i) for i in data.frame["id"]], [list(x) for x in data.frame["labels"]]
        if len(data.frame) == 0:  # check_images would drop the columns of an empty frame
            splits[name] = Split(data.frame, data.targets, [], ids, gold)
            continue
        frame, report = check_images(data.frame, progress=progress)
        log.info("%s: %d memes from %s; %s", name, len(data.frame), data.json_file, report.summary())
        splits[name] = Split(frame, multi_hot(frame["labels"]), list(report.skipped), ids, gold)
    return splits


def tokenize(preprocessor, texts, batch_size=256):
    """The preprocessor's outputs for `texts` as numpy arrays (the texts keep
    their "\\n\\n" sentence separators, as the paper does)."""
    import tensorflow as tf

    texts = [str(t) for t in texts]
    if not texts:  # an empty split: the right keys and widths, no rows
        return {k: np.asarray(v)[:0] for k, v in preprocessor(tf.constant([""])).items()}
    chunks = [preprocessor(tf.constant(texts[i:i + batch_size])) for i in range(0, len(texts), batch_size)]
    return {k: np.concatenate([np.asarray(c[k]) for c in chunks]) for k in chunks[0]}


def image_features(encoder, frame, image_size, crop=False, batch_size=32):
    """V for every meme of `frame`: (memes, regions, 2048), through the same
    decoder the exported model uses."""
    import tensorflow as tf

    from memotion_tf.preprocessing.image import load_image

    if len(frame) == 0:
        return np.zeros((0, *encoder.output.shape[1:]), np.float32)
    ds = tf.data.Dataset.from_tensor_slices(frame["image_path"].to_numpy().astype(str))
    ds = ds.map(lambda p: load_image(p, image_size, crop=crop), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    return encoder.predict(ds.batch(batch_size), verbose=0).astype(np.float32)


def _same_inputs(config):
    """What the shared text preprocessing and image features depend on."""
    return (config.preset, config.random_init, config.max_length, config.image_size, config.image_weights,
            config.model_args.get("image_backbone", "resnet50"), int(config.protocol.get("image_seed", 0)),
            bool(config.protocol.get("center_crop", False)), config.dataset, config.data_source)


class Inputs:
    """Tokens, frozen image features and targets of every split, computed once
    and shared by all rows (features only when a model needs them).

    Features are also cached on disk (`<MEMOTION_TF_HOME>/features/1213li/`),
    keyed by the data's fingerprint and everything the features depend on:
    ResNet-50 on a 2-core CPU is most of a quick run's first minutes."""

    def __init__(self, config, splits, data_dir):
        import keras

        from memotion_tf.models.label_attention import image_encoder
        from memotion_tf.models.pretrained import text_preprocessor

        self.splits = splits
        self.key = _same_inputs(config)
        self.image_size = config.image_size
        self.crop = bool(config.protocol.get("center_crop", False))
        self.image_backbone = config.model_args.get("image_backbone", "resnet50")
        self.preprocessor = text_preprocessor(config.preset, sequence_length=config.max_length,
                                              random_init=config.random_init)
        self.tokens = {name: tokenize(self.preprocessor, s.frame["text"]) for name, s in splits.items()}
        # One frozen ResNet-50 for the whole reproduction; with random init its
        # weights are fixed by `protocol.image_seed`.
        keras.utils.set_random_seed(int(config.protocol.get("image_seed", 0)))
        self.encoder = image_encoder(self.image_backbone, config.image_size, config.image_weights)
        self.cache_dir = _features_cache_dir(data_dir, self.key)
        self._features = {}

    def check(self, config):
        if _same_inputs(config) != self.key:
            raise config_lib.ConfigError(
                f"{config.config_path}: every row of the 1213Li tables must share preset, random_init, max_length, "
                "image_size, image_weights, image_backbone, protocol.image_seed and protocol.center_crop "
                "(the text preprocessing and image features are computed once)")

    def features(self, split):
        if split not in self._features:
            self._features[split] = self._cached_features(split)
        return self._features[split]

    def _cached_features(self, split):
        frame = self.splits[split].frame
        path = os.path.join(self.cache_dir, f"{split}.npz") if self.cache_dir else None
        ids = np.asarray(self.splits[split].ids)
        if path and os.path.exists(path):
            with np.load(path) as cached:
                if np.array_equal(cached["ids"], ids):
                    log.info("%s features of the %d %s memes: cached in %s", self.image_backbone, len(frame),
                             split, path)
                    return cached["features"]
        log.info("%s features of the %d %s memes (once)", self.image_backbone, len(frame), split)
        features = image_features(self.encoder, frame, self.image_size, crop=self.crop)
        if path:
            os.makedirs(self.cache_dir, exist_ok=True)
            with atomic_file(path) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, ids=ids, features=features)
        return features

    def pool(self, names):
        """(tokens, features, targets) of several splits concatenated."""
        tokens = {k: np.concatenate([self.tokens[n][k] for n in names]) for k in self.tokens[names[0]]}
        features = np.concatenate([self.features(n) for n in names])
        targets = np.concatenate([self.splits[n].targets for n in names])
        return tokens, features, targets


def _features_cache_dir(data_dir, key):
    """A folder under the user cache named by a hash of the data's fingerprint
    and the features' settings; None for the tiny test encoder (its features
    cost nothing)."""
    import hashlib

    from memotion_tf import paths, provenance

    if key[5] != "resnet50":
        return None
    versions = provenance.versions()  # another TensorFlow / Keras may compute other features
    digest = hashlib.sha256(json.dumps([provenance.fingerprint(data_dir), list(key), versions],
                                       sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(paths.home(), "features", "1213li", digest)


@dataclasses.dataclass
class PreparedData:
    splits: dict
    inputs: Inputs
    data_dir: str
    synthetic: bool
    ensembles: list = dataclasses.field(default_factory=list)  # the Table 2 configs of this run
    member0: dict = None  # the "+ full att" model of seed 0, kept for the ensemble's member 0


# --------------------------------------------------------------- scoring


def score_labels(split, label_lists):
    """The paper's metrics of `label_lists` (one per readable meme of `split`,
    in `frame` order) over every meme of the gold file; also per technique."""
    return score_predictions(split.gold_map, split.every_meme(label_lists))


def score_predictions(gold, predictions):
    """`gold`, `predictions`: id -> labels for the same ids. The metrics of
    METRICS (macro F1 by the task's scorer and with zero_division=0) and the
    per-technique F1 of the task's scorer."""
    from memotion_tf.evaluation.semeval21_task6 import score

    official = score(gold, predictions)
    plain = score(gold, predictions, zero_division=0)
    return {"micro_f1": official["micro_f1"], "macro_f1": official["macro_f1"],
            "macro_f1_zero_division_0": plain["macro_f1"], "per_technique": official["per_technique"]}


def most_frequent(targets, k):
    """The `k` techniques carried by most memes of `targets` (ties: TECHNIQUES order)."""
    order = np.argsort(-targets.sum(0), kind="stable")
    return [TECHNIQUES[j] for j in order[:k]]


# ------------------------------------------------------------------ training


def _dev_scores_class():
    import keras

    from memotion_tf.evaluation.semeval21_task6 import probabilities_to_labels

    class DevScores(keras.callbacks.Callback):
        """After each epoch, the official micro/macro F1 on the dev memes go
        into the logs (`val_micro_f1`, `val_macro_f1`, for the history,
        TensorBoard and the curves). With `select_best`, the weights of the
        epoch with the best dev micro F1 are kept in `state_dir/best` (weights
        and scores replaced together, so a resumed run keeps them too) and
        restored when training ends.

        Args:
            x_dev: the `fusion` graph's dev inputs.
            score_labels: label lists (one per dev meme) -> scores dict.
            threshold: probability above which a technique is predicted.
            batch_size: for predict.
            state_dir: this fit's resume folder.
            select_best: keep the best epoch (else the last).
        """

        def __init__(self, x_dev, score_labels, threshold, batch_size, state_dir, select_best=True):
            super().__init__()
            self.x_dev, self.score_labels, self.threshold = x_dev, score_labels, threshold
            self.batch_size, self.select_best = batch_size, select_best
            self.best_dir = os.path.join(state_dir, "best")
            self.state = {"best_epoch": None, "best_micro_f1": -1.0}

        def on_train_begin(self, logs=None):
            path = os.path.join(self.best_dir, "scores.json")
            if os.path.exists(path):
                with open(path) as f:
                    self.state = json.load(f)
                log.info("resuming: best dev micro F1 so far %.4f (epoch %s)",
                         self.state["best_micro_f1"], self.state["best_epoch"])

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            probabilities = self.model.predict(self.x_dev, batch_size=self.batch_size, verbose=0)
            scores = self.score_labels(probabilities_to_labels(probabilities, self.threshold))
            logs["val_micro_f1"], logs["val_macro_f1"] = scores["micro_f1"], scores["macro_f1"]
            if self.select_best and scores["micro_f1"] > self.state["best_micro_f1"]:
                self.state = {"best_epoch": epoch + 1, "best_micro_f1": scores["micro_f1"]}
                with atomic_directory(self.best_dir) as tmp:
                    self.model.save_weights(os.path.join(tmp, "best.weights.h5"))
                    with open(os.path.join(tmp, "scores.json"), "w") as f:
                        json.dump(self.state, f)

        def on_train_end(self, logs=None):
            if self.select_best and self.state["best_epoch"] is not None:
                self.model.load_weights(os.path.join(self.best_dir, "best.weights.h5"))
                log.info("kept epoch %d (dev micro F1 %.4f)", self.state["best_epoch"],
                         self.state["best_micro_f1"])

    return DevScores


def build_model(config, inputs):
    """A LabelAttentionFusion for `config`, its image encoder holding the shared
    reference ResNet-50 weights. Call under the strategy's scope."""
    from memotion_tf.models.label_attention import LabelAttentionFusion
    from memotion_tf.models.pretrained import text_backbone

    backbone_args = dict(config.protocol.get("tiny_backbone", {}))
    if not config.preset:
        backbone_args["vocabulary_size"] = inputs.preprocessor.tokenizer.vocabulary_size()
        backbone_args.setdefault("max_sequence_length", max(config.max_length, 64))
    backbone = text_backbone(config.preset, random_init=config.random_init, **backbone_args)
    model = LabelAttentionFusion(backbone, num_labels=len(TECHNIQUES), image_size=config.image_size,
                                 image_weights=config.image_weights, **config.model_args)
    model.image_encoder.set_weights(inputs.encoder.get_weights())
    return model


def _select(arrays, index):
    return {k: v[index] for k, v in arrays.items()}


TEXT_INPUTS = ("token_ids", "padding_mask", "segment_ids")


def length_batches(x, y, batch_size, seed, max_length, width=8, epoch=None):
    """Shuffled training batches of memes whose texts have similar lengths (in
    buckets `width` tokens wide), each cut to its longest text.

    The model, the loss and every meme's tokens are unchanged; only the
    padding goes, which is most of a padded batch (real meme texts have a
    median of ~22 tokens, padded to `max_length`), so a fine-tuning epoch on a
    CPU costs about half. Texts are padded at the end (keras-hub packers), so
    cutting a batch at its longest `padding_mask` keeps every token.

    With `epoch` (a `training.epochs.EpochCounter`'s variable) each epoch's
    order is drawn from (seed, epoch), so a resumed run reads the batches an
    uninterrupted one does (`input_pipeline.epoch_rows`)."""
    import tensorflow as tf

    from memotion_tf.input_pipeline import epoch_rows

    def length(features, _):
        return tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32))

    def cut(features, targets):
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1))
        return {k: v[:, :longest] if k in TEXT_INPUTS else v for k, v in features.items()}, targets

    boundaries = list(range(width + 1, max_length + 1, width))  # a text of exactly `width` tokens: first bucket
    if epoch is None:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    else:
        rows = tf.nest.map_structure(tf.convert_to_tensor, (x, y))
        ds = epoch_rows(len(y), epoch, seed).map(lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), rows))
    ds = ds.bucket_by_sequence_length(length, boundaries, [batch_size] * (len(boundaries) + 1))
    # Every epoch has the same number of batches (each bucket's memes, in batches, the last one short),
    # but tf.data cannot infer it: told, Keras' fit neither warns "Your input ran out of data" at each
    # epoch's end nor takes a count from the first epoch.
    buckets = np.searchsorted(boundaries, np.asarray(x["padding_mask"]).sum(axis=1), side="right")
    count = int(sum(-(-n // batch_size) for n in np.bincount(buckets)))
    ds = ds.apply(tf.data.experimental.assert_cardinality(count))
    return ds.map(cut).prefetch(tf.data.AUTOTUNE)


def train_member(config, inputs, train, dev, seed, ctx, name="model"):
    """Train one model on `train` = (tokens, features, targets), choosing the
    epoch on `dev` = (tokens, features, targets, score_labels).
    Returns (model, best epoch, dev probabilities).

    Every fit carries the runner's callbacks for `name` (history, TensorBoard,
    backup, progress) after the dev scores, whose best-epoch state lives in
    the same resume folder (`ctx.scratch(name)`). With `protocol.length_buckets`
    the batches group memes of similar text length (`length_batches`)."""
    import keras

    from memotion_tf.input_pipeline import array_dataset
    from memotion_tf.training.epochs import EpochCounter

    keras.utils.set_random_seed(seed)
    from memotion_tf.training.memory import resolve_accumulation
    from memotion_tf.training.optimizers import DenseAdam, accumulation
    from memotion_tf.training.precision import compile_options

    global_batch = config.batch_size * ctx.strategy.num_replicas_in_sync
    # Each epoch's order comes from (seed, epoch): a resumed run trains on an uninterrupted one's batches.
    epochs = EpochCounter()
    with ctx.strategy.scope():
        model = build_model(config, inputs)
    steps = resolve_accumulation(config.accumulation_steps, model.fusion, config.batch_size, strategy=ctx.strategy,
                                 sequence_length=config.max_length)
    with ctx.strategy.scope():
        model.fusion.compile(optimizer=DenseAdam(config.learning_rate, **accumulation(steps)),
                             loss=keras.losses.BinaryCrossentropy(),
                             **compile_options(config, model.fusion, ctx.strategy))
    x_train = model.fusion_inputs(train[0], train[1])
    x_dev = model.fusion_inputs(dev[0], dev[1])
    scores = _dev_scores_class()(x_dev, dev[3], config.protocol.get("threshold", 0.5), global_batch,
                                 ctx.scratch(name), select_best=config.protocol.get("select_best_epoch", True))
    micro_batch = global_batch // steps  # `steps` of them make one update of global_batch
    if config.protocol.get("length_buckets", False):
        train_ds = length_batches(x_train, train[2], micro_batch, seed, config.max_length, epoch=epochs.epoch)
    else:  # fit(x, y, shuffle=True)'s batches
        train_ds = array_dataset((x_train, train[2]), micro_batch, epochs.epoch, shuffle_seed=seed)
    model.fusion.fit(train_ds, epochs=config.epochs, validation_data=(x_dev, dev[2]),
                     validation_batch_size=global_batch, shuffle=False,  # the dataset shuffles
                     callbacks=[epochs, *ctx.callbacks(name, before=[scores])], verbose=ctx.verbose)
    probabilities = model.fusion.predict(x_dev, batch_size=global_batch, verbose=0)
    return model, scores.state["best_epoch"], probabilities


def member_splits(n_train, n_dev, members, dev_size, split_seed):
    """(train index, dev index) into train+dev (train first) for each member:
    member 0 keeps the official split; member k > 0 takes `dev_size` random memes
    of train+dev as dev (seed `split_seed + k`) and trains on the rest."""
    pool = np.arange(n_train + n_dev)
    out = [(pool[:n_train], pool[n_train:])]
    for k in range(1, members):
        rng = np.random.default_rng(split_seed + k)
        dev = np.sort(rng.choice(pool, size=min(dev_size, len(pool) - 1), replace=False))
        out.append((np.setdiff1d(pool, dev), dev))
    return out


def _same_training(row_config, ensemble_config):
    """The ensemble's member 0 is the row's model when both train the same way."""
    a, b = config_signature(row_config), config_signature(ensemble_config)
    for sig in (a, b):
        sig["protocol"] = {k: v for k, v in sig["protocol"].items()
                           if k not in ("ensemble_size", "resplit_dev_size", "table")}
    return a == b


# -------------------------------------------------------------------- export


def export_model(model, path, config, inputs, metadata, check_frame, expected, check_memes=16):
    """Export `model` (raw text + image bytes -> 22 probabilities) and compare
    the SavedModel's outputs on the first raw memes of `check_frame` with the
    in-memory `expected` probabilities. Returns the largest difference."""
    import tensorflow as tf

    from memotion_tf.export import export_classifier, load_exported

    export_classifier(model, path, class_names=TECHNIQUES, vectorizer=inputs.preprocessor,
                      image_size=config.image_size, multi_label=True,
                      threshold=config.protocol.get("threshold", 0.5), crop=inputs.crop, metadata=metadata)
    frame = check_frame.head(check_memes)
    images = [_read_bytes(p) for p in frame["image_path"]]
    serve, _, _ = load_exported(path)
    out = serve(text=tf.constant(frame["text"].astype(str).tolist()), image=tf.constant(images))
    diff = float(np.abs(out["probabilities"].numpy() - expected[:len(frame)]).max()) if len(frame) else 0.0
    if not diff < 1e-4:
        raise RuntimeError(f"{path}: the SavedModel's probabilities differ from the in-memory model's by {diff}")
    log.info("exported %s (SavedModel matches the in-memory model: max |diff| %.2e on %d raw memes)",
             path, diff, len(frame))
    return diff


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""  # the SavedModel answers "image: empty" for this row


def _metadata(config, seed, **extra):
    return {"paper": config.paper, "system": config.system, "dataset": config.dataset, "task": config.task,
            "preset": config.preset, "max_length": config.max_length, "seed": seed, **extra}


# --------------------------------------------------------------------- paper


class Team1213Li(Paper):
    name = "1213li"
    title = "1213Li at SemEval-2021 Task 6 (Li et al., 2021), subtask 3: persuasion techniques in memes"
    reference = ("Li, Li, Sun. 1213Li at SemEval-2021 Task 6: Detection of Propaganda with Multi-modal "
                 "Attention and Pre-trained Models. SemEval-2021, ACL Anthology 2021.semeval-1.142")
    dataset = "semeval21_task6"
    config_files = (
        "1213li/roberta_resnet50.toml", "1213li/visual_att.toml", "1213li/textual_att.toml",
        "1213li/full_att.toml", "1213li/ensemble.toml",
    )
    evaluation_split = "dev"
    splits = ("dev", "train", "test")
    split_aliases = {"val": "dev"}
    paper_columns = (("dev_macro_f1", "paper macro F1"), ("dev_micro_f1", "paper micro F1"))
    metric_columns = (("micro_f1", "ours micro F1"), ("macro_f1", "ours macro F1"),
                      ("macro_f1_zero_division_0", "ours macro F1 (zero_division=0)"))
    primary_metric = "micro_f1"
    protocol_keys = {
        "threshold": "sigmoid probability above which a technique is predicted",
        "select_best_epoch": "keep the epoch with the best dev micro F1",
        "image_seed": "seed of the shared ResNet-50 when image_weights is empty",
        "center_crop": "crop each image to its centred square before resizing (section 3.2.1)",
        "synthetic_sizes": "train/dev/test sizes of the embedded synthetic corpus",
        "table": "which table the row belongs to",
        "ensemble_size": "models in the Table 2 ensemble",
        "resplit_dev_size": "dev memes drawn from train+dev for ensemble members 1..",
        "tiny_backbone": "size of the random text backbone when preset is empty (tests)",
        "length_buckets": "train on batches of memes of similar text length, cut to their longest text",
    }
    notes = NOTES
    distributed = False  # trains on NumPy feature arrays on one machine

    # ------------------------------------------------------------- configs

    def model_arguments(self, config):
        """The label-attention model's constructor arguments."""
        from memotion_tf.models.label_attention import LabelAttentionFusion

        return constructor_arguments(LabelAttentionFusion)

    def check_config(self, config):
        check_keys(config, "protocol", config.protocol, self.protocol_keys)
        if config.model != "label_attention":
            raise config_lib.ConfigError(f"{config.config_path}: the 1213Li rows use model = "
                                         f"\"label_attention\", not {config.model!r}")
        check_keys(config, "model_args", config.model_args, self.model_arguments(config))
        if config.loss != "binary_crossentropy":
            raise config_lib.ConfigError(f"{config.config_path}: the 1213Li models train with "
                                         f"loss = \"binary_crossentropy\" (section 4.3), not {config.loss!r}")
        if config.protocol.get("table", TABLE1) not in (TABLE1, TABLE2):
            raise config_lib.ConfigError(f"{config.config_path}: protocol.table must be {TABLE1!r} or {TABLE2!r}")

    # ---------------------------------------------------------------- data

    def synthetic_sizes(self, config):
        from memotion_tf.datasets.semeval21_task6 import REAL_SIZES

        return tuple(int(n) for n in config.protocol.get("synthetic_sizes", REAL_SIZES))

    def synthetic_key(self, config):
        return "-".join(str(n) for n in self.synthetic_sizes(config))

    def synthetic_size(self, config):
        return sum(self.synthetic_sizes(config))

    def ensure_data(self, config, data_dir=None):
        """`data_dir`, or the embedded synthetic corpus with exactly
        `protocol.synthetic_sizes` memes per split (the registry's writer
        splits a total 687:63:200), written once under the user cache with the
        registry's synthetic marker."""
        if data_dir:
            return super().ensure_data(config, data_dir)
        from memotion_tf import paths
        from memotion_tf.datasets.semeval21_task6 import write_synthetic_semeval21_task6
        from memotion_tf.io import create_once

        sizes = self.synthetic_sizes(config)

        def write(path):
            # The writer leaves the synthetic marker and makes the folder appear at once.
            log.info("writing the embedded synthetic %s corpus (train/dev/test %s) to %s", self.dataset, sizes, path)
            write_synthetic_semeval21_task6(path, sizes=sizes, seed=0)

        return create_once(paths.synthetic_dir(self.dataset, self.synthetic_key(config)), write)

    def prepare(self, configs, data_dir, synthetic):
        splits = read_corpus(data_dir, config=configs[0])
        inputs = Inputs(configs[0], splits, data_dir)
        for config in configs:
            inputs.check(config)
        ensembles = [c for c in configs if self._is_ensemble(c)]
        # Whether the ensemble's member 0 will be the "+ full att" row trained in this run (progress bar).
        self._member0_from_row = bool(ensembles) and any(
            not self._is_ensemble(c) and _same_training(c, ensembles[0]) for c in configs)
        return PreparedData(splits, inputs, data_dir, synthetic, ensembles)

    def data_summary(self, data):
        return {name: {"memes": len(s.all_ids), "readable": len(s.frame), "skipped_images": len(s.skipped)}
                for name, s in data.splits.items()}

    # ---------------------------------------------------------------- rows

    @staticmethod
    def _is_ensemble(config):
        return config.protocol.get("table", TABLE1) == TABLE2

    def units(self, config):
        if self._is_ensemble(config):  # one run by nature: its members are the runs
            return [Unit(config, config.system, slug(config.system), paper=dict(config.paper_metrics), seeds=1)]
        return super().units(config)

    def planned_epochs(self, unit):
        config = unit.config
        if not self._is_ensemble(config):
            return config.epochs
        count = int(config.protocol.get("ensemble_size", 5))
        return config.epochs * (count - 1 if getattr(self, "_member0_from_row", False) else count)

    def signature(self, unit, data):
        signature = super().signature(unit, data)
        signature["data"] = {"dir": os.path.abspath(data.data_dir),
                             "memes": {n: len(s.all_ids) for n, s in data.splits.items()}}
        return signature

    def train(self, unit, data, seed, ctx):
        if self._is_ensemble(unit.config):
            return self._train_ensemble(unit, data, seed, ctx)
        return self._train_row(unit, data, seed, ctx)

    def _train_row(self, unit, data, seed, ctx):
        """One Table 1 row: train on train, keep the best dev epoch, score dev."""
        from memotion_tf.evaluation.semeval21_task6 import probabilities_to_labels

        config, inputs = unit.config, data.inputs
        threshold = config.protocol.get("threshold", 0.5)
        train, dev = data.splits["train"], data.splits["dev"]
        model, best_epoch, probabilities = train_member(
            config, inputs, train=(inputs.tokens["train"], inputs.features("train"), train.targets),
            dev=(inputs.tokens["dev"], inputs.features("dev"), dev.targets, lambda labels: score_labels(dev, labels)),
            seed=seed, ctx=ctx)
        scores = score_labels(dev, probabilities_to_labels(probabilities, threshold))
        metrics = {m: scores[m] for m in METRICS}
        history = ctx.history()
        if seed == 0 and any(_same_training(config, e) for e in data.ensembles):
            data.member0 = {"config": config, "model": model, "history": history, "best_epoch": best_epoch}

        def export(path):
            diff = export_model(model, path, config, inputs,
                                _metadata(config, seed, split="dev", threshold=threshold, best_epoch=best_epoch,
                                          dev_metrics=metrics),
                                dev.frame, probabilities)
            return {"max_abs_diff": diff}

        return Run(metrics=metrics, history=history, export=export,
                   record={"best_epoch": best_epoch, "per_technique": scores["per_technique"],
                           "dev_probabilities": probabilities.tolist(), "threshold": threshold})

    def _train_ensemble(self, unit, data, seed, ctx):
        """Table 2: train the members (member 0 is the "+ full att" row's model
        of this run when it trains the same way), average their test
        probabilities, threshold, write + check the official predictions file
        over every test meme and score it. Each finished member's weights and
        record stay in this seed's resume folder until the row is recorded."""
        from memotion_tf.evaluation.semeval21_task6 import (
            check_predictions,
            probabilities_to_labels,
            write_predictions,
        )

        config, inputs = unit.config, data.inputs
        threshold = config.protocol.get("threshold", 0.5)
        count = int(config.protocol.get("ensemble_size", 5))
        dev_size = int(config.protocol.get("resplit_dev_size", 64))
        train_split, dev_split, test = data.splits["train"], data.splits["dev"], data.splits["test"]
        splits = member_splits(len(train_split.frame), len(dev_split.frame), count, dev_size, config.split_seed)
        pool_ids = train_split.ids + dev_split.ids
        pool_gold = train_split.gold + dev_split.gold
        x_test_text, x_test_features = inputs.tokens["test"], inputs.features("test")
        members = []
        for k, (train_index, dev_index) in enumerate(splits):
            state = ctx.scratch(f"member_{k}")
            record_path = os.path.join(state, "member.json")
            weights_path = os.path.join(state, "member.weights.h5")
            if os.path.exists(record_path) and os.path.exists(weights_path):
                log.info("%s member %d: finished before, reusing %s", config.system, k, record_path)
                with open(record_path) as f:
                    members.append(json.load(f))
                continue
            reuse = data.member0 if k == 0 else None
            if reuse is not None and _same_training(reuse["config"], config):
                log.info("%s member 0: the '%s' model of the official split", config.system,
                         reuse["config"].system)
                model, best_epoch, history = reuse["model"], reuse["best_epoch"], reuse["history"]
            else:
                log.info("%s member %d: training (dev = %d memes)", config.system, k, len(dev_index))
                if k == 0:
                    dev = (inputs.tokens["dev"], inputs.features("dev"), dev_split.targets,
                           lambda labels: score_labels(dev_split, labels))
                    trained = (inputs.tokens["train"], inputs.features("train"), train_split.targets)
                else:
                    tokens, features, targets = inputs.pool(["train", "dev"])
                    gold = [pool_gold[i] for i in dev_index]

                    def score_dev(labels, gold=gold):
                        from memotion_tf.evaluation.semeval21_task6 import score

                        return score(gold, labels)

                    dev = (_select(tokens, dev_index), features[dev_index], targets[dev_index], score_dev)
                    trained = (_select(tokens, train_index), features[train_index], targets[train_index])
                model, best_epoch, _ = train_member(config, inputs, trained, dev, seed=k, ctx=ctx,
                                                    name=f"member_{k}")
                history = ctx.history(f"member_{k}")
            test_probabilities = model.fusion.predict(model.fusion_inputs(x_test_text, x_test_features),
                                                      batch_size=64, verbose=0)
            test_scores = score_labels(test, probabilities_to_labels(test_probabilities, threshold))
            with atomic_file(weights_path) as tmp:
                model.fusion.save_weights(tmp)
            record = {"member": k, "seed": k, "best_epoch": best_epoch,
                      "dev_ids": [pool_ids[i] for i in dev_index], "history": history,
                      "test_metrics": {m: test_scores[m] for m in METRICS},
                      "test_probabilities": test_probabilities.tolist()}
            atomic_write_json(record_path, record)
            members.append(record)
            del model  # rebuilt from its weights for the export: one model in memory at a time
        data.member0 = None

        probabilities = np.mean([np.asarray(r["test_probabilities"]) for r in members], axis=0)
        predictions_path = os.path.join(ctx.folder, "predictions_test.json")
        every = test.every_meme(probabilities_to_labels(probabilities, threshold))
        write_predictions(predictions_path, list(every), list(every.values()))
        checked = check_predictions(predictions_path, test.all_ids)  # the official format, read back
        scores = score_predictions(test.gold_map, checked)
        metrics = {m: scores[m] for m in METRICS}
        log.info("%s: test micro F1 %.4f, macro F1 %.4f (%d members averaged; %d test memes without a readable "
                 "image get no technique)", config.system, scores["micro_f1"], scores["macro_f1"], len(members),
                 len(test.skipped))

        def export(path):
            from memotion_tf.models.label_attention import average_ensemble

            models = []
            with ctx.strategy.scope():
                for k in range(count):
                    model = build_model(config, inputs)
                    model.fusion.load_weights(os.path.join(ctx.scratch(f"member_{k}"), "member.weights.h5"))
                    models.append(model)
                ensemble = average_ensemble(models)
            diff = export_model(
                ensemble, path, config, inputs,
                _metadata(config, list(range(count)), split="test", threshold=threshold, members=count,
                          member_dev_ids=[r["dev_ids"] for r in members], test_metrics=metrics),
                test.frame, probabilities)
            return {"max_abs_diff": diff}

        return Run(metrics=metrics, history={}, export=export, record={
            "threshold": threshold,
            "predictions": os.path.join(unit.folder, "predictions_test.json"),
            "per_technique": scores["per_technique"],
            "predicted": [checked[i] for i in test.all_ids],
            "members": [{k: r[k] for k in ("member", "best_epoch", "dev_ids", "history", "test_metrics",
                                          "test_probabilities")} for r in members],
        })

    # ------------------------------------------------------------ outputs

    def plot_row(self, unit, data, records, folder):
        from memotion_tf.evaluation.semeval21_task6 import probabilities_to_labels

        first = records[0]
        if self._is_ensemble(unit.config):
            test = data.splits["test"]
            plot_history([m["history"] for m in first["members"]], f"{unit.system} ensemble members: training "
                         "curves", os.path.join(folder, "training_curves.png"), run_label="member")
            plot_per_technique(first["per_technique"], test.all_gold, first["predicted"],
                               f"{unit.system} ensemble: per-technique F1 on test",
                               os.path.join(folder, "per_technique_f1.png"))
            return
        dev = data.splits["dev"]
        plot_history([r["history"] for r in records], f"{unit.system}: training curves",
                     os.path.join(folder, "training_curves.png"))
        predicted = dev.every_meme(probabilities_to_labels(np.asarray(first["dev_probabilities"]),
                                                           first["threshold"]))
        plot_per_technique(first["per_technique"], dev.all_gold, list(predicted.values()),
                           f"{unit.system}: per-technique F1 on dev (seed {first['seed']})",
                           os.path.join(folder, "per_technique_f1.png"))

    def row_extras(self, unit, data, records):
        from memotion_tf.evaluation.metrics import summarize_runs

        first = records[0]
        extras = {"table": unit.config.protocol.get("table", TABLE1), "threshold": first["threshold"],
                  "export_check": (first.get("export") or {}).get("max_abs_diff")}
        if not self._is_ensemble(unit.config):
            return dict(extras, split="dev", best_epochs=[r["best_epoch"] for r in records])
        members = first["members"]
        return dict(extras, split="test", predictions=first["predictions"],
                    members=[{"member": m["member"], "best_epoch": m["best_epoch"], "dev_memes": len(m["dev_ids"]),
                              "test_metrics": m["test_metrics"]} for m in members],
                    member_test_metrics={m: summarize_runs([r["test_metrics"][m] for r in members])
                                         for m in METRICS},
                    skipped_test_images=len(data.splits["test"].skipped))

    def baselines(self, data, configs):
        """The k most frequent techniques of the training labels (k = 1..4),
        given to every meme of dev (Table 1) and of test (Table 2)."""
        from memotion_tf.evaluation.metrics import summarize_runs

        train = data.splits["train"]
        targets = multi_hot(train.all_gold)  # every training label, images or not
        tables = {self._is_ensemble(c) for c in configs}
        rows = []
        for table, split_name in ((TABLE1, "dev"), (TABLE2, "test")):
            split = data.splits[split_name]
            if (table == TABLE2) not in tables or not split.all_ids:
                continue
            for k in PRIOR_SIZES:
                prior = most_frequent(targets, k)
                scores = score_predictions(split.gold_map, {i: list(prior) for i in split.all_ids})
                rows.append({"system": f"prior: the {k} most frequent technique{'s' if k > 1 else ''}",
                             "baseline": True, "table": table, "split": split_name, "techniques": prior,
                             "metrics": {m: summarize_runs([scores[m]]) for m in METRICS},
                             "paper": {}, "seeds": []})
        return rows

    def results_extras(self, data, configs):
        return {"leaderboard": [{"rank": r, "team": t, "macro_f1": ma, "micro_f1": mi}
                                for r, t, ma, mi in LEADERBOARD],
                "stand_ins": _stand_ins(configs[0])}

    def markdown(self, results):
        return results_markdown(results, self)

    # ---------------------------------------------------------- evaluation

    def evaluate(self, saved_model, meta, data_dir, split, batch_size=64, output=None):
        """Official micro/macro F1 of an exported 1213Li SavedModel on every meme
        of `split` (a meme the SavedModel cannot read gets no technique), with
        the threshold stored in its metadata."""
        import tensorflow as tf

        from memotion_tf.evaluation.semeval21_task6 import probabilities_to_labels
        from memotion_tf.export import load_exported

        serve, meta, _ = load_exported(saved_model)
        if not meta.get("multi_label") or list(meta.get("class_names", [])) != list(TECHNIQUES):
            raise config_lib.ConfigError(f"{saved_model}: not a SemEval-2021 Task 6 subtask-3 model")
        frame = read_semeval21_task6(data_dir, split).frame
        predictions, unreadable = {}, 0
        for start in range(0, len(frame), batch_size):
            part = frame.iloc[start:start + batch_size]
            out = serve(text=tf.constant(part["text"].astype(str).tolist()),
                        image=tf.constant([_read_bytes(p) for p in part["image_path"]]))
            errors = [e.decode() for e in out["error"].numpy()]
            labels = probabilities_to_labels(np.nan_to_num(out["probabilities"].numpy(), nan=0.0),
                                             meta["threshold"])
            for meme_id, error, names in zip(part["id"], errors, labels):
                predictions[str(meme_id)] = [] if error else names
                unreadable += bool(error)
        scores = score_predictions(dict(zip(map(str, frame["id"]), map(list, frame["labels"]))), predictions)
        return {"examples": len(frame), "skipped_images": unreadable, "threshold": meta["threshold"],
                "metrics": {m: scores[m] for m in METRICS}}


def _stand_ins(config):
    """What the profile uses instead of the paper's pretrained parts (said beside every number)."""
    parts = []
    if config.preset != "roberta_base_en":
        parts.append(f"text encoder `{config.preset or 'random BERT'}` for RoBERTa-base")
    if config.image_weights != "imagenet":
        parts.append("a randomly initialised frozen ResNet-50 for the ImageNet one")
    return parts


# --------------------------------------------------------------- plots, tables


def plot_history(histories, title, path, run_label="run"):
    """BCE loss (train and dev) and dev micro/macro F1 per epoch, one colour per
    run; whole-epoch ticks and markers, so a 1-epoch run shows its points."""
    from matplotlib.ticker import MaxNLocator

    from memotion_tf.evaluation.plots import plt, save_figure

    panels = [("loss", "BCE loss"), ("val_micro_f1", "dev micro F1"), ("val_macro_f1", "dev macro F1")]
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 3.6), squeeze=False)
    longest = max([len(h.get("loss", [])) for h in histories] + [1])
    for ax, (key, label) in zip(axes[0], panels):
        for i, history in enumerate(histories):
            values = history.get(key, [])
            ax.plot(range(1, len(values) + 1), values, color=f"C{i}", marker="o", ms=4,
                    label=f"{'train' if key == 'loss' else 'dev'} ({run_label} {i})")
            if key == "loss" and "val_loss" in history:
                ax.plot(range(1, len(history["val_loss"]) + 1), history["val_loss"], color=f"C{i}",
                        linestyle="--", marker="s", ms=4, label=f"dev ({run_label} {i})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if longest <= 20:
            ax.set_xticks(range(1, longest + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, longest + 0.5)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def plot_per_technique(per_technique, gold, predicted, title, path):
    """Horizontal bars: F1 of each of the 22 techniques, with its gold and
    predicted meme counts (a confusion matrix does not fit a multi-label task).
    Techniques with neither gold nor predicted memes, which the official
    scorer counts as F1 = 1, are drawn in grey."""
    from memotion_tf.evaluation.plots import plt, save_figure

    names = list(TECHNIQUES)
    gold_counts, predicted_counts = multi_hot(gold).sum(0), multi_hot(predicted).sum(0)
    empty = (gold_counts == 0) & (predicted_counts == 0)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    ax.barh(range(len(names)), [per_technique[n] for n in names],
            color=["lightgrey" if e else "C0" for e in empty])
    labels = [f"{n if len(n) < 40 else n[:38] + '…'} ({int(g)}/{int(p)})"
              for n, g, p in zip(names, gold_counts, predicted_counts)]
    ax.set_yticks(range(len(names)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 per technique (gold/predicted memes); grey: no gold and no prediction, "
                  "counted 1 by the official scorer", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def _fmt(summary):
    from memotion_tf.evaluation.report import format_summary

    return format_summary(summary, digits=4)  # the papers' tables give 4 decimals


def _paper(row, key):
    value = row["paper"].get(key)
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def results_markdown(results, paper):
    """Table 1 (ablation, dev) and Table 2 (test, beside the leaderboard), each
    with its "k most frequent techniques" baselines."""
    from memotion_tf.evaluation.report import results_header

    stand_ins = results.get("stand_ins") or []
    details = f"; stand-ins: {'; '.join(stand_ins)}" if stand_ins else ""
    lines = results_header(paper.title, results, f"subtask {results['task']}", "the SemEval-2021 Task 6 corpus",
                           details=details)
    rows = results["rows"]
    baselines = results.get("baselines", [])
    table1 = [r for r in rows if r.get("table") == TABLE1]
    table2 = [r for r in rows if r.get("table") == TABLE2]
    if table1:
        lines += ["", "## Table 1: ablation on the dev set", "",
                  "| Model | paper macro F1 | paper micro F1 | ours macro F1 (zero_division=0) | "
                  "ours macro F1 (task scorer) | ours micro F1 | runs | best epochs |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in table1 + [b for b in baselines if b["table"] == TABLE1]:
            name = f"*{row['system']}*" if row.get("baseline") else row["system"]
            epochs = ", ".join(str(e) for e in row.get("best_epochs", [])) or "-"
            lines.append(f"| {name} | {_paper(row, 'dev_macro_f1')} | {_paper(row, 'dev_micro_f1')} | "
                         f"{_fmt(row['metrics'].get('macro_f1_zero_division_0'))} | "
                         f"{_fmt(row['metrics']['macro_f1'])} | {_fmt(row['metrics']['micro_f1'])} | "
                         f"{len(row['seeds']) or '-'} | {epochs} |")
    if table2:
        lines += ["", "## Table 2: test set, the official leaderboard and ours", "",
                  "| Rank | Team | Macro F1 | Micro F1 |", "|---|---|---|---|"]
        for entry in results.get("leaderboard", []):
            lines.append(f"| {entry['rank']} | {entry['team']} | {entry['macro_f1']:.5f} | "
                         f"{entry['micro_f1']:.5f} |")
        for row in table2:
            lines.append(f"| ours | {row['system']} reproduced (ensemble of {len(row.get('members', []))}, "
                         f"threshold {row['threshold']}) | {_fmt(row['metrics']['macro_f1'])} | "
                         f"{_fmt(row['metrics']['micro_f1'])} |")
            member = row.get("member_test_metrics")
            if member:
                lines.append(f"| ours | single members (mean ± std [min, max]) | {_fmt(member['macro_f1'])} | "
                             f"{_fmt(member['micro_f1'])} |")
        for row in [b for b in baselines if b["table"] == TABLE2]:
            lines.append(f"| baseline | *{row['system']}* ({', '.join(row['techniques'])}) | "
                         f"{_fmt(row['metrics']['macro_f1'])} | {_fmt(row['metrics']['micro_f1'])} |")
    lines += ["", "Ours: mean ± sample std [min, max] over the runs. Rows in italics are trivial baselines "
                  "computed by the same code on the same split."]
    lines += [f"- {note}" for note in paper.notes]
    return "\n".join(lines).rstrip() + "\n"
