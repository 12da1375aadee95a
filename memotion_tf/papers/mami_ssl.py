"""Multimodal Semi-supervised Learning for Sentiment Analysis of Image Macros
(CROM-AE + RAW-N-COOK). Pham Thai Hoang Tung, Nguyen Tan Viet, Ngo Tien Anh;
supervised by Phan Duy Hung (a slide deck). Tables 3, 4 and 5 on MAMI
(SemEval-2022 Task 5, Fersini et al., ACL Anthology 2022.semeval-1.74), and a
supervised CLIP-features baseline of ours.

    MAMI TRAINING (split 8,000 train / 2,000 validation) + test (1,000)
      -> CLIP image and text embeddings, extracted once per split and cached
         (`memotion_tf.features.clip`, under the user cache)
      -> per seed: CROM-AE on every training meme, labels unused; trained once
         and shared by every row and ratio that uses its encoders
         (`<OUT>/CROM-AE/seed_<k>/`)
      -> per row (system x label ratio 0.3 / 0.1 / 0.05) and seed: a seeded
         labelled subset of train; RAW-N-COOK on it (StepLR, Adam, 50 epochs,
         batch 40), validation weighted F1 and AUC logged every epoch
      -> weighted F1 and ROC AUC on test (the runner: mean/std/min/max)
      -> per row: SavedModel (CLIP + encoders + classifier, raw text and image
         bytes in), ROC curves, per-label confusion matrices, training curves
      -> results.md: ours beside the paper's numbers, trivial baselines on the
         same test set, and the paper's other baselines printed from its tables.

The rows (configs under `configs/mami_ssl/`), each at every ratio of
`protocol.ratios` (one results row and folder `<system>_ratio-<r>` per ratio):

| system                           | CROM-AE encoders | loss               |
|----------------------------------|------------------|--------------------|
| Ours                             | yes              | DB focal           |
| w/o CROM-AE encoders             |                  | DB focal           |
| w/o DB loss                      | yes              | BCE                |
| w/o DB loss + CROM-AE encoders   |                  | BCE                |
| Supervised CLIP features (linear)|                  | BCE, linear probe  |

Where everything is:
- data: `datasets/mami.py` (reader, split, labelled subset, synthetic writer)
- features: `features/clip.py` (CLIP, tokenizer, cache); text cleaning
  `preprocessing/mami_text.py` (in-graph) and `datasets/mami.py` (Python)
- models: `models/crom_ae.py` (CROM-AE, RAW-N-COOK, the exported composition)
- loss: `losses/distribution_balanced.py`; metrics and plots: `evaluation/multilabel.py`
- configs: `configs/mami_ssl/`; pipeline: `pipelines/mami_ssl.py`; notebook: `notebooks/mami_ssl.ipynb`

Choices where the slides are silent (also in `notes` below, printed under the
table, and in the configs' comments):
- Task B: Tables 3-4 report "weighted-average F1", the official subtask B score,
  and the DB loss is a multi-label loss.
- Labelled subset: `ratio` x the 8,000 train memes, i.e. 2,400 / 800 / 400. The
  slides' data slide shows "Labeled data: 2000, Unlabeled data: 6000" of the 8,000,
  a fraction 0.25 that matches none of the three ratios their tables report; we
  follow the tables (`--set protocol.ratios=[0.25]` with a gamma for "0.25"
  gives the 2,000 / 6,000 split). Drawn per seed, stratified on the label pattern;
  seed k of every row uses the same subset (paired rows).
- F_image and F_text are CLIP's projected embeddings, L2-normalised
  (`protocol.normalize_features`); AUC is the support-weighted mean of the
  per-label ROC AUCs (the slides say only "area under the ROC curve").
- RAW-N-COOK's sizes are not given: hidden layer 512, PReLU, dropout 0.2,
  encoders' latent 512 (`model_args`, `protocol.crom_ae.latent_dim`).
- StepLR steps once per epoch; CROM-AE uses the same optimiser, epochs and
  batch (Table 2) without StepLR; the model after the last epoch is scored, at
  probability 0.5.
- The supervised CLIP-features baseline is a linear classifier (logistic
  regression) on the concatenated CLIP features, BCE, labelled subset only.
"""

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil

import numpy as np

from memotion_tf import config as config_lib
from memotion_tf import paths
from memotion_tf.io import atomic_file, atomic_write_json
from memotion_tf.papers.base import Paper, Run, Unit, check_keys, config_signature, constructor_arguments, slug

log = logging.getLogger("memotion_tf")

TITLE = ("Multimodal semi-supervised learning for sentiment analysis of image macros "
         "(CROM-AE + RAW-N-COOK), Tables 3-5: MAMI subtask B")
METRICS = (("weighted_f1", "weighted-F1"), ("auc", "AUC"))
CROM_AE_FOLDER = "CROM-AE"  # under OUT: one trained CROM-AE per seed, shared by the rows

# Tables 3 (weighted F1) and 4 (AUC) of the paper: the baselines we do not
# train, printed beside ours.
BASELINES = ("CMML origin", "CMML-CLIP", "TIB-VA", "VisualBERT", "Extpienet", "ViLT", "Lxmert")
PAPER_BASELINES = {
    "weighted_f1": {
        "0.3": (0.5673, 0.7265, 0.7083, 0.6337, 0.4422, 0.6010, 0.6005),
        "0.1": (0.5496, 0.6872, 0.5885, 0.5583, 0.4139, 0.5566, 0.5597),
        "0.05": (0.5256, 0.6496, 0.4150, 0.5174, 0.4139, 0.5456, 0.5303),
    },
    "auc": {
        "0.3": (0.6234, 0.8289, 0.8333, 0.6825, 0.5043, 0.6948, 0.6684),
        "0.1": (0.5794, 0.7956, 0.7901, 0.6119, 0.4833, 0.6312, 0.6163),
        "0.05": (0.5647, 0.7664, 0.7093, 0.5604, 0.4761, 0.5978, 0.5986),
    },
}

PROTOCOL_KEYS = {
    "ratios": "labelled fractions of train (Tables 3-5: 0.3, 0.1, 0.05)",
    "step_gamma": "StepLR gamma per ratio (Table 2), keyed by the ratio as a string",
    "step_size_epochs": "StepLR step size in epochs (not in the paper: 1)",
    "threshold": "probability at which a label is predicted",
    "feature_batch_size": "batch size of the one-off CLIP feature extraction",
    "normalize_features": "L2-normalise the CLIP embeddings",
    "clip_init_seed": "seed of the random tiny CLIP (no preset)",
    "tiny_clip": "sizes of the random tiny CLIP (see memotion_tf.features.clip.TINY_CLIP)",
    "crom_ae": "CROM-AE: latent_dim, and optionally epochs / batch_size / learning_rate",
    "export_ratios": "ratios whose rows export a SavedModel (each holds a copy of CLIP)",
    "feature_cache": "folder of the cached CLIP features (default: under the user cache, MEMOTION_TF_HOME)",
}
CROM_AE_KEYS = {"latent_dim": "width of each encoder's output", "epochs": "default: epochs",
                "batch_size": "default: batch_size", "learning_rate": "default: learning_rate"}
# Protocol keys that every row must share (they define the features and CROM-AE).
SHARED_KEYS = ("normalize_features", "clip_init_seed", "tiny_clip", "crom_ae", "feature_batch_size",
               "feature_cache")
# Config fields every row must share (one feature cache, one split, one CROM-AE).
SHARED_FIELDS = ("dataset", "task", "text_field", "preset", "image_size", "max_length", "val_fraction",
                 "split_seed", "synthetic_size", "data_source", "tfds_data_dir")
LOSSES = ("distribution_balanced", "binary_crossentropy")
SCHEDULES = ("step", "constant")
# RawNCook's arguments that come from the data and protocol.crom_ae, not from model_args.
DERIVED_MODEL_ARGS = ("image_dim", "text_dim", "num_labels", "latent_dim")


def ratio_key(ratio):
    return f"{float(ratio):g}"


def row_dir_name(system, ratio):
    """A row's folder under OUT: `<system>_ratio-<r>`."""
    return f"{slug(system).strip('_')}_ratio-{ratio_key(ratio)}"


def uses_encoders(config):
    return bool(config.model_args.get("use_encoders", True))


def ae_settings(config):
    ae = dict(config.protocol["crom_ae"])
    return {"latent_dim": int(ae["latent_dim"]), "epochs": int(ae.get("epochs", config.epochs)),
            "batch_size": int(ae.get("batch_size", config.batch_size)),
            "learning_rate": float(ae.get("learning_rate", config.learning_rate))}


def export_ratios(config):
    return [float(r) for r in config.protocol.get("export_ratios", config.protocol.get("ratios", []))]


# --------------------------------------------------------------------------
# Data and features.
# --------------------------------------------------------------------------


@dataclasses.dataclass
class SSLData:
    """Everything the rows share: frames, labels, split and cached CLIP features,
    and the CROM-AE of each seed once trained or loaded."""

    train_frame: object  # all usable rows of TRAINING (train + validation)
    test_frame: object
    label_names: tuple
    labels: np.ndarray  # [len(train_frame), labels]
    test_labels: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    features: dict  # split -> {"image_features", "text_features"}
    feature_digests: dict  # split -> cache key digest
    cache_hits: dict  # split -> bool
    extractor: object
    vectorizer: object
    image_size: int
    clip_spec: dict
    data_dir: str
    synthetic: bool
    skip_reports: dict
    cache_dir: str = ""
    ae_config: object = None  # the config whose settings train CROM-AE (the first row using it)
    crom_ae: dict = dataclasses.field(default_factory=dict)  # seed -> (model, history)

    def inputs(self, split, index=None):
        feats = self.features[split]
        if index is None:
            return dict(feats)
        return {k: v[index] for k, v in feats.items()}


def clip_spec(config):
    """What identifies the CLIP model besides its weights (part of the cache key)."""
    spec = {"preset": config.preset}
    if config.preset and config.random_init:
        spec["random_init"] = int(config.protocol.get("clip_init_seed", 0))
    if not config.preset:
        spec.update(tiny_clip=dict(config.protocol.get("tiny_clip", {})),
                    init_seed=int(config.protocol.get("clip_init_seed", 0)))
    return spec


def build_feature_model(config):
    """(CLIPFeatureExtractor, CLIPTextVectorizer) for a config."""
    from memotion_tf.features.clip import CLIPFeatureExtractor, CLIPTextVectorizer, build_clip

    backbone, tokenizer = build_clip(
        config.preset, image_size=config.image_size, sequence_length=config.max_length,
        init_seed=int(config.protocol.get("clip_init_seed", 0)), random_init=config.random_init,
        **config.protocol.get("tiny_clip", {}))
    extractor = CLIPFeatureExtractor(backbone, normalize=bool(config.protocol.get("normalize_features", True)))
    vectorizer = CLIPTextVectorizer(tokenizer, sequence_length=config.max_length, standardize="mami_clean")
    vectorizer.build(None)  # export needs it built even when the features come from the cache
    return extractor, vectorizer


def read_splits(config, data_dir, progress=False):
    """({split: frame}, {split: skip report}) of MAMI's train and test, images
    checked; from the files, or through TFDS with `data_source = "tfds"`."""
    from memotion_tf.datasets.common import check_images
    from memotion_tf.datasets.mami import read_mami
    from memotion_tf.papers.memotion import read_records

    frames, reports = {}, {}
    for split in ("train", "test"):
        data = read_records(config, data_dir, read_mami, split=split, task=config.task, text_field=config.text_field)
        log.info("read %d %s memes from %s", len(data.frame), split, data.texts_file)
        frames[split], reports[split] = check_images(data.frame, progress=progress)
        log.info(reports[split].summary())
    return frames, reports


def feature_cache_dir(config, data_dir):
    """Where the CLIP features of `data_dir` live: `protocol.feature_cache`, else
    `<user cache>/features/mami-ssl/<data and model>/`. The user cache serves
    every OUT (ViT-L/14 features of 11,000 memes are extracted once, not per
    run folder); one folder per data copy and CLIP keeps a run on one copy from
    evicting another's files (a file's own key still checks every image and text)."""
    if config.protocol.get("feature_cache"):
        return os.fspath(config.protocol["feature_cache"])
    what = {"data_dir": os.path.realpath(data_dir), "clip": clip_spec(config), "image_size": config.image_size,
            "max_length": config.max_length, "task": config.task, "text_field": config.text_field,
            "normalize": bool(config.protocol.get("normalize_features", True))}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return os.path.join(paths.home(), "features", "mami-ssl", digest)


def prepare_data(config, data_dir, synthetic, cache_dir, progress=False):
    """Read and check both splits, split TRAINING 80/20, and get the CLIP
    features of both splits from the cache (extracting them on a miss)."""
    from memotion_tf.datasets.mami import TASK_B_LABELS, label_columns, split_mami
    from memotion_tf.features.clip import cached_clip_features, feature_key, key_digest

    frames, reports = read_splits(config, data_dir, progress)
    columns = label_columns(config.task)
    label_names = TASK_B_LABELS if config.task == "B" else ("misogynous",)
    train_index, val_index = split_mami(frames["train"], seed=config.split_seed, val_fraction=config.val_fraction)

    extractor, vectorizer = build_feature_model(config)
    spec = clip_spec(config)
    features, digests, hits = {}, {}, {}
    batch = int(config.protocol.get("feature_batch_size", 32))
    for split in ("train", "test"):
        features[split], hits[split] = cached_clip_features(
            frames[split], split, cache_dir, extractor, vectorizer, spec, batch_size=batch)
        digests[split] = key_digest(feature_key(extractor, vectorizer, frames[split], split, spec))
    return SSLData(
        train_frame=frames["train"], test_frame=frames["test"], label_names=tuple(label_names),
        labels=frames["train"][columns].to_numpy().astype("float32"),
        test_labels=frames["test"][columns].to_numpy().astype("float32"),
        train_index=train_index, val_index=val_index, features=features, feature_digests=digests,
        cache_hits=hits, extractor=extractor, vectorizer=vectorizer, image_size=config.image_size,
        clip_spec=spec, data_dir=data_dir, synthetic=synthetic, skip_reports=reports, cache_dir=cache_dir,
    )


# --------------------------------------------------------------------------
# Training.
# --------------------------------------------------------------------------


def predict_probabilities(model, inputs, batch_size=256):
    logits = model.predict(inputs, batch_size=batch_size, verbose=0)
    return (1.0 / (1.0 + np.exp(-logits.astype("float64")))).astype("float32")


def _epoch_metrics_callback(x, y, threshold):
    """A callback that adds the paper's metrics on the validation memes
    (`val_weighted_f1`, `val_auc`, the slides' Figures 22-23) to each epoch's
    logs, for the history, the curves and TensorBoard."""
    import keras

    from memotion_tf.evaluation.multilabel import multilabel_metrics

    class EpochMetrics(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            # One direct call on the validation features: `predict` would set up a data
            # adapter and loop every epoch, which costs more than this small MLP's epoch.
            logits = keras.ops.convert_to_numpy(self.model(x, training=False)).astype("float64")
            metrics = multilabel_metrics(y, 1.0 / (1.0 + np.exp(-logits)), threshold)
            logs.update({f"val_{name}": value for name, value in metrics.items()})

    return EpochMetrics()


def train_crom_ae(config, data, seed, strategy, ctx=None, verbose=0):
    """CROM-AE on every training meme (labelled and unlabelled); validation
    memes give the validation curves. With a run context `ctx`, the fit
    carries its callbacks (backup, history, TensorBoard, progress).
    Returns (model, history dict of every epoch)."""
    import keras

    from memotion_tf.input_pipeline import array_dataset
    from memotion_tf.models.crom_ae import CROMAE
    from memotion_tf.training.epochs import EpochCounter
    from memotion_tf.training.memory import resolve_accumulation
    from memotion_tf.training.optimizers import DenseAdam, accumulation
    from memotion_tf.training.precision import compile_options

    settings = ae_settings(config)
    train = data.inputs("train", data.train_index)
    val = data.inputs("train", data.val_index)

    def targets(x):
        return {"text_from_image": x["text_features"], "image_from_text": x["image_features"]}

    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = CROMAE(image_dim=train["image_features"].shape[1], text_dim=train["text_features"].shape[1],
                       latent_dim=settings["latent_dim"])
    global_batch = settings["batch_size"] * strategy.num_replicas_in_sync
    steps = resolve_accumulation(config.accumulation_steps, model, settings["batch_size"], strategy=strategy)
    with strategy.scope():
        model.compile(optimizer=DenseAdam(settings["learning_rate"], **accumulation(steps)),
                      loss={"text_from_image": "mse", "image_from_text": "mse"},
                      **compile_options(config, model, strategy))
    # fit(x, y, shuffle=True)'s batches, each epoch's order drawn from (seed, epoch) so that a
    # run resumed from its backup trains on the batches an uninterrupted one does.
    epochs = EpochCounter()
    train_ds = array_dataset((train, targets(train)), global_batch // steps, epochs.epoch, shuffle_seed=seed)
    fit = model.fit(train_ds, validation_data=(val, targets(val)), validation_batch_size=global_batch,
                    epochs=settings["epochs"], callbacks=[epochs, *(ctx.callbacks() if ctx else [])], shuffle=False,
                    verbose=ctx.verbose if ctx else verbose)
    history = (ctx.history() if ctx else None) or {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    return model, history


def make_loss(config, labels):
    """The row's loss on the labelled subset's labels (`labels`: [n, C] multi-hot)."""
    import keras

    from memotion_tf.losses.distribution_balanced import DistributionBalancedLoss

    if config.loss == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(from_logits=True)
    n = len(labels)
    # n_i from the labelled subset; a class absent from a tiny subset counts
    # once (and a class on every row n - 1) so that r and the prior bias stay finite.
    counts = np.clip(labels.sum(axis=0), 1, max(n - 1, 1))
    args = dict(config.loss_args)
    if args.get("kappa", 0.05) and n < 2:
        args["kappa"] = 0.0
    return DistributionBalancedLoss(class_counts=counts.tolist(), num_examples=n, **args)


def step_lr(config, ratio, steps_per_epoch):
    """PyTorch's StepLR as a Keras schedule: lr * gamma ** floor(epoch / step_size)."""
    import keras

    if config.lr_schedule == "constant":
        return config.learning_rate
    gamma = float(config.protocol["step_gamma"][ratio_key(ratio)])
    step_size = int(config.protocol.get("step_size_epochs", 1))
    return keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, decay_steps=steps_per_epoch * step_size, decay_rate=gamma, staircase=True)


def build_classifier(config, data, crom_ae=None):
    from memotion_tf.models.crom_ae import RawNCook

    args = dict(config.model_args)
    feats = data.features["train"]
    model = RawNCook(image_dim=feats["image_features"].shape[1], text_dim=feats["text_features"].shape[1],
                     num_labels=len(data.label_names), latent_dim=ae_settings(config)["latent_dim"], **args)
    if model.use_encoders:
        if crom_ae is None:
            raise ValueError(f"{config.system} uses the CROM-AE encoders but none was given")
        model.load_encoders(crom_ae)
    return model


def labelled_rows(data, ratio, seed):
    """Positions (into the TRAINING frame) of the labelled subset for a ratio and seed."""
    from memotion_tf.datasets.mami import labelled_subset

    labelled, _ = labelled_subset(data.train_index, data.labels[data.train_index], ratio, seed)
    return labelled


def train_classifier(config, data, ratio, seed, strategy, crom_ae=None, ctx=None, verbose=0):
    """RAW-N-COOK (or an ablation) on the labelled subset only; validation
    weighted F1 and AUC logged every epoch. With a run context `ctx`, the fit
    carries its callbacks (backup, history, TensorBoard, progress).
    Returns (model, history of every epoch, labelled positions)."""
    import keras

    from memotion_tf.input_pipeline import array_dataset
    from memotion_tf.training.epochs import EpochCounter
    from memotion_tf.training.memory import resolve_accumulation
    from memotion_tf.training.optimizers import DenseAdam, accumulation
    from memotion_tf.training.precision import compile_options

    labelled = labelled_rows(data, ratio, seed)
    x, y = data.inputs("train", labelled), data.labels[labelled]
    val_x, val_y = data.inputs("train", data.val_index), data.labels[data.val_index]
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    steps = math.ceil(len(labelled) / global_batch)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_classifier(config, data, crom_ae)
    accumulate = resolve_accumulation(config.accumulation_steps, model, config.batch_size, strategy=strategy)
    with strategy.scope():
        model.compile(optimizer=DenseAdam(step_lr(config, ratio, steps), **accumulation(accumulate)),
                      loss=make_loss(config, y), **compile_options(config, model, strategy))
    metrics = _epoch_metrics_callback(val_x, val_y, float(config.protocol.get("threshold", 0.5)))
    epochs = EpochCounter()  # each epoch's order from (seed, epoch), as in train_crom_ae
    callbacks = [epochs, *(ctx.callbacks(before=[metrics]) if ctx else [metrics])]
    fit = model.fit(array_dataset((x, y), global_batch // accumulate, epochs.epoch, shuffle_seed=seed),
                    validation_data=(val_x, val_y), validation_batch_size=global_batch, epochs=config.epochs,
                    callbacks=callbacks, verbose=ctx.verbose if ctx else verbose, shuffle=False)
    history = (ctx.history() if ctx else None) or {k: [float(v) for v in vs] for k, vs in fit.history.items()}
    return model, history, labelled


# --------------------------------------------------------------------------
# The CROM-AE of each seed, shared by the rows.
# --------------------------------------------------------------------------


def ae_signature(data, seed=None):
    """What a trained CROM-AE depends on (without `seed`: what every seed's shares)."""
    config = data.ae_config
    signature = {"crom_ae": ae_settings(config), "train_features": data.feature_digests["train"],
                 "split_seed": config.split_seed, "val_fraction": config.val_fraction}
    return signature if seed is None else dict(signature, seed=seed)


def crom_ae_folder(out, seed):
    return os.path.join(out, CROM_AE_FOLDER, f"seed_{seed}")


def read_crom_ae_record(out, seed, signature=None):
    """The record of seed `seed`'s trained CROM-AE under OUT, if it matches `signature`."""
    path = os.path.join(crom_ae_folder(out, seed), "record.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        record = json.load(f)
    return record if signature is None or record.get("signature") == signature else None


def crom_ae_for_seed(data, seed, ctx):
    """Seed `seed`'s CROM-AE: from memory, from `<OUT>/CROM-AE/seed_<k>/` when
    its signature matches, or trained now. It lives beside the rows, not in one
    row's backup, because every row and ratio using the encoders shares it: a
    resume reuses it whichever row asks first (its training backup sits under
    `<OUT>/CROM-AE/backup/seed_<k>/` until the weights and record are final).
    Returns (model, history)."""
    from memotion_tf.models.crom_ae import CROMAE
    from memotion_tf.runner import RunContext, keep_backup_of

    if seed in data.crom_ae:
        return data.crom_ae[seed]
    out = os.path.dirname(os.path.abspath(ctx.folder))
    folder = crom_ae_folder(out, seed)
    weights_path = os.path.join(folder, "crom_ae.weights.h5")
    signature = ae_signature(data, seed)
    record = read_crom_ae_record(out, seed, signature)
    if record and os.path.exists(weights_path):
        feats = data.features["train"]
        with ctx.strategy.scope():
            model = CROMAE(image_dim=feats["image_features"].shape[1], text_dim=feats["text_features"].shape[1],
                           latent_dim=signature["crom_ae"]["latent_dim"])
            model.load_weights(weights_path)
        log.info("CROM-AE seed %d: reusing %s", seed, weights_path)
        data.crom_ae[seed] = (model, record["history"])
        return data.crom_ae[seed]

    root = os.path.join(out, CROM_AE_FOLDER)
    backup_dir = os.path.join(root, "backup", f"seed_{seed}")
    # A backup left by a killed run continues only if it was made for the same CROM-AE settings and
    # features; another one is removed first, by the chief only (the runner's rule for every seed).
    keep_backup_of(backup_dir, signature)
    ae_ctx = RunContext(seed=seed, strategy=ctx.strategy, folder=root, backup_dir=backup_dir, verbose=ctx.verbose,
                        progress=ctx.progress)
    log.info("CROM-AE seed %d: training on %d memes (%d epochs)", seed, len(data.train_index),
             signature["crom_ae"]["epochs"])
    model, history = train_crom_ae(data.ae_config, data, seed, ctx.strategy, ctx=ae_ctx)
    log.info("CROM-AE seed %d: reconstruction MSE image->text %.4f, text->image %.4f (validation)",
             seed, history["val_text_from_image_loss"][-1], history["val_image_from_text_loss"][-1])
    os.makedirs(folder, exist_ok=True)
    with atomic_file(weights_path) as tmp:
        model.save_weights(tmp)
    atomic_write_json(os.path.join(folder, "record.json"), {"seed": seed, "signature": signature, "history": history})
    # Only now, with the weights and record final, may the backup go.
    shutil.rmtree(backup_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(backup_dir))  # the last seed's takes the empty folder with it
    data.crom_ae[seed] = (model, history)
    return data.crom_ae[seed]


# --------------------------------------------------------------------------
# Export and scoring of a SavedModel.
# --------------------------------------------------------------------------


def export_row(model, data, config, ratio, seed, metrics, path):
    from memotion_tf.export import export_classifier
    from memotion_tf.models.crom_ae import clip_meme_classifier

    composed = clip_meme_classifier(data.extractor, model)
    export_classifier(
        composed, path, class_names=data.label_names, vectorizer=data.vectorizer, image_size=data.image_size,
        multi_label=True, threshold=float(config.protocol.get("threshold", 0.5)),
        metadata={
            "paper": MAMISSL.name, "system": config.system, "dataset": config.dataset, "task": config.task,
            "text_field": config.text_field, "label_ratio": ratio, "seed": seed,
            "val_fraction": config.val_fraction, "split_seed": config.split_seed,
            "clip": data.clip_spec, "text_cleaning": "mami_clean (inside the SavedModel)",
            "evaluation_split": "test", "test_metrics": metrics,
        },
    )
    return {}


def evaluate_saved_model(saved_model, meta, data_dir, split="test", batch_size=64):
    """Weighted F1 and AUC of an exported row, from the SavedModel alone (raw
    transcriptions and image bytes in), on `split`: "test", or "val" / "train"
    as the SavedModel's metadata (`split_seed`, `val_fraction`) defines them."""
    import tensorflow as tf

    from memotion_tf.datasets.common import check_images
    from memotion_tf.datasets.mami import label_columns, read_mami, split_mami
    from memotion_tf.evaluation.multilabel import multilabel_metrics
    from memotion_tf.export import load_exported

    serve, _, _ = load_exported(saved_model)
    frame, report = check_images(read_mami(data_dir, task=meta["task"], text_field=meta["text_field"],
                                           split="test" if split == "test" else "train").frame, progress=False)
    if split in ("train", "val"):
        train, val = split_mami(frame, seed=meta["split_seed"], val_fraction=meta["val_fraction"])
        frame = frame.iloc[train if split == "train" else val].reset_index(drop=True)
    probabilities = []
    for start in range(0, len(frame), batch_size):
        chunk = frame.iloc[start:start + batch_size]
        images = [tf.io.read_file(p) for p in chunk["image_path"]]
        out = serve(text=tf.constant(chunk["raw_text"].tolist()), image=tf.stack(images))
        probabilities.append(out["probabilities"].numpy())
    labels = frame[label_columns(meta["task"])].to_numpy()
    metrics = multilabel_metrics(labels, np.concatenate(probabilities), threshold=meta["threshold"])
    return {"examples": int(len(frame)), "skipped_images": len(report.skipped),
            "label_ratio": meta.get("label_ratio"), "metrics": metrics}


# --------------------------------------------------------------------------
# The paper.
# --------------------------------------------------------------------------


class MAMISSL(Paper):
    """Semi-supervised MAMI on the runner: one row per system and label ratio."""

    name = "mami-ssl"
    title = TITLE
    reference = ("Pham Thai Hoang Tung, Nguyen Tan Viet, Ngo Tien Anh (supervisor Phan Duy Hung). Multimodal "
                 "Semi-supervised Learning for Sentiment Analysis of Image Macros (slides); data: SemEval-2022 "
                 "Task 5 MAMI, ACL Anthology 2022.semeval-1.74")
    dataset = "mami"
    config_files = (
        "mami_ssl/ours.toml",
        "mami_ssl/wo_crom_ae.toml",
        "mami_ssl/wo_db_loss.toml",
        "mami_ssl/wo_db_loss_crom_ae.toml",
        "mami_ssl/supervised_clip.toml",
    )
    evaluation_split = "test"
    splits = ("test", "val", "train")
    paper_columns = (("test_weighted_f1", "paper weighted-F1"), ("test_auc", "paper AUC"))
    metric_columns = (("weighted_f1", "ours weighted-F1"), ("auc", "ours AUC"))
    primary_metric = "weighted_f1"
    protocol_keys = PROTOCOL_KEYS
    distributed = False  # fits NumPy feature arrays with Model.fit and keeps a shared CROM-AE per seed
    notes = (
        "Ours: weighted F1 (the official MAMI subtask B score) and AUC, the support-weighted mean of the "
        "per-label ROC AUCs, on the official test set; the model after the last epoch, labels at probability 0.5.",
        "Labelled subset: ratio x the 8,000 train memes (2,400 / 800 / 400), as the tables' ratios say; the "
        "slides' data slide shows 2,000 labelled / 6,000 unlabelled, a ratio (0.25) none of their tables reports.",
        "Not in the slides: F_image and F_text are CLIP's projected, L2-normalised embeddings; RAW-N-COOK's "
        "hidden layer (512, PReLU, dropout 0.2) and the encoders' latent width (512); StepLR steps every epoch; "
        "the DB loss' hyperparameters are Wu et al.'s (ECCV 2020) COCO-MLT values.",
        "CROM-AE is trained once per seed on every training meme and shared by the rows that use its encoders; "
        "the labelled subset of seed k is the same in every row (paired rows).",
        "The ablation rows have paper numbers only at ratio 0.3 (Table 5, weighted F1).",
    )

    def __init__(self):
        self._ae_unit = None  # the first row (system, ratio) that will train the CROM-AE, for the progress bar

    # ------------------------------------------------------------- configs

    def model_arguments(self, config):
        """RAW-N-COOK's constructor arguments, less those the data decides."""
        from memotion_tf.models.crom_ae import RawNCook

        return {k: v for k, v in constructor_arguments(RawNCook).items() if k not in DERIVED_MODEL_ARGS}

    def check_config(self, config):
        """Errors that name the config file, before anything is trained."""
        check_keys(config, "protocol", config.protocol, self.protocol_keys)
        check_keys(config, "protocol.crom_ae", config.protocol.get("crom_ae", {}), CROM_AE_KEYS)
        check_keys(config, "model_args", config.model_args, self.model_arguments(config))
        problems = []
        if config.dataset != "mami":
            problems.append(f"dataset must be 'mami', not {config.dataset!r}")
        if config.task not in ("A", "B"):
            problems.append(f"task must be A or B, not {config.task!r}")
        if config.model != "raw_n_cook":
            problems.append(f"model must be 'raw_n_cook', not {config.model!r}")
        if config.loss not in LOSSES:
            problems.append(f"loss must be one of {LOSSES}, not {config.loss!r}")
        if config.loss == "binary_crossentropy" and config.loss_args:
            problems.append("binary_crossentropy takes no loss_args")
        if config.lr_schedule not in SCHEDULES:
            problems.append(f"lr_schedule must be one of {SCHEDULES}, not {config.lr_schedule!r}")
        ratios = config.protocol.get("ratios", [])
        if not ratios or not all(0 < float(r) < 1 for r in ratios):
            problems.append(f"protocol.ratios must be fractions in (0, 1), got {ratios!r}")
        elif config.lr_schedule == "step":
            missing = [ratio_key(r) for r in ratios if ratio_key(r) not in config.protocol.get("step_gamma", {})]
            if missing:
                problems.append(f"protocol.step_gamma has no gamma for ratio(s) {missing}")
        if "latent_dim" not in config.protocol.get("crom_ae", {}):
            problems.append("protocol.crom_ae.latent_dim is required")
        if problems:
            raise config_lib.ConfigError(f"{config.config_path or config.system}: " + "; ".join(problems))
        return config

    def check_shared(self, configs):
        """The rows share one feature cache, one split and one CROM-AE per seed."""
        first = configs[0]
        for config in configs[1:]:
            for field in SHARED_FIELDS:
                if getattr(config, field) != getattr(first, field):
                    raise config_lib.ConfigError(
                        f"{config.config_path}: `{field}` differs from {first.config_path}; the rows share "
                        "one feature cache and one CROM-AE")
            for key in SHARED_KEYS:
                if config.protocol.get(key) != first.protocol.get(key):
                    raise config_lib.ConfigError(
                        f"{config.config_path}: protocol.{key} differs from {first.config_path}")
        users = [c for c in configs if uses_encoders(c)]
        for config in users[1:]:
            if ae_settings(config) != ae_settings(users[0]):
                raise config_lib.ConfigError(f"{config.config_path}: CROM-AE settings (epochs, batch_size, "
                                             f"learning_rate, protocol.crom_ae) differ from {users[0].config_path}")

    # ---------------------------------------------------------------- data

    def prepare(self, configs, data_dir, synthetic):
        self.check_shared(configs)
        first = configs[0]
        cache_dir = feature_cache_dir(first, data_dir)
        data = prepare_data(first, data_dir, synthetic, cache_dir)
        data.ae_config = next((c for c in configs if uses_encoders(c)), first)
        return data

    def data_summary(self, data):
        return {"train": int(len(data.train_index)), "val": int(len(data.val_index)),
                "test": int(len(data.test_frame)),
                "skipped_images": {split: len(r.skipped) for split, r in data.skip_reports.items()},
                "label_names": list(data.label_names)}

    # ---------------------------------------------------------------- rows

    def units(self, config):
        units = []
        for ratio in config.protocol["ratios"]:
            ratio = float(ratio)
            units.append(Unit(config, config.system, row_dir_name(config.system, ratio), key={"ratio": ratio},
                              paper=dict(config.paper_metrics.get(ratio_key(ratio), {}))))
            if self._ae_unit is None and uses_encoders(config):
                self._ae_unit = (config.system, ratio)
        return units

    def planned_epochs(self, unit):
        # The first row using the encoders also trains each seed's CROM-AE.
        extra = ae_settings(unit.config)["epochs"] if self._ae_unit == (unit.system, unit.key["ratio"]) else 0
        return unit.config.epochs + extra

    def exports(self, unit):
        return any(math.isclose(unit.key["ratio"], r) for r in export_ratios(unit.config))

    def signature(self, unit, data):
        """The config without what does not change this row's training (other
        ratios' settings, export, paths, paper numbers), the features, and the
        CROM-AE it starts from."""
        config = unit.config
        signature = config_signature(config)
        protocol = signature.pop("protocol")
        signature["protocol"] = {k: v for k, v in protocol.items()
                                 if k not in ("export_ratios", "feature_cache", "ratios", "step_gamma")}
        if config.lr_schedule == "step":
            signature["protocol"]["step_gamma"] = protocol["step_gamma"][ratio_key(unit.key["ratio"])]
        signature["key"] = unit.key
        signature["features"] = data.feature_digests
        signature["crom_ae"] = ae_signature(data) if uses_encoders(config) else None
        return signature

    def train(self, unit, data, seed, ctx):
        from memotion_tf.evaluation.multilabel import multilabel_metrics

        config, ratio = unit.config, unit.key["ratio"]
        threshold = float(config.protocol.get("threshold", 0.5))
        exports = self.exports(unit)
        stale = os.path.join(ctx.folder, "saved_model")
        if not exports and seed == 0 and os.path.isdir(stale):
            # A SavedModel of an earlier config of this row; this run exports none.
            log.info("%s @ ratio %s: removing the SavedModel of an earlier run (%s)", unit.system,
                     ratio_key(ratio), stale)
            shutil.rmtree(stale)
        crom_ae = crom_ae_for_seed(data, seed, ctx)[0] if uses_encoders(config) else None
        model, history, labelled = train_classifier(config, data, ratio, seed, ctx.strategy, crom_ae=crom_ae,
                                                    ctx=ctx)
        probabilities = predict_probabilities(model, data.inputs("test"))
        metrics = multilabel_metrics(data.test_labels, probabilities, threshold)
        val_metrics = multilabel_metrics(data.labels[data.val_index],
                                         predict_probabilities(model, data.inputs("train", data.val_index)),
                                         threshold)
        log.info("%s @ ratio %s seed %d (%d labelled): test weighted-F1 %.4f, AUC %.4f", config.system,
                 ratio_key(ratio), seed, len(labelled), metrics["weighted_f1"], metrics["auc"])
        export = None
        if exports:
            def export(path):
                return export_row(model, data, config, ratio, seed, metrics, path)
        return Run(metrics=metrics, history=history, export=export,
                   record={"labelled": int(len(labelled)), "val_metrics": val_metrics,
                           "test_probabilities": probabilities.round(6).tolist()})

    def plot_row(self, unit, data, records, folder):
        from memotion_tf.evaluation.multilabel import plot_label_confusions, plot_roc_curves, plot_ssl_curves

        threshold = float(unit.config.protocol.get("threshold", 0.5))
        first = records[0]
        probabilities = np.asarray(first["test_probabilities"])
        title = f"{unit.system}, label ratio {ratio_key(unit.key['ratio'])} (seed {first['seed']}, test)"
        plot_roc_curves(data.test_labels, probabilities, data.label_names, title,
                        os.path.join(folder, "roc_curves.png"))
        plot_label_confusions(data.test_labels, (probabilities >= threshold).astype(int), data.label_names,
                              title, os.path.join(folder, "confusion_matrix.png"))
        out = os.path.dirname(os.path.abspath(folder))
        ae_histories = []
        if uses_encoders(unit.config):
            for record in records:
                ae = read_crom_ae_record(out, record["seed"])
                ae_histories.append(ae["history"] if ae else {})
        plot_ssl_curves(ae_histories, [r["history"] for r in records],
                        f"{unit.system}, label ratio {ratio_key(unit.key['ratio'])}: training curves",
                        os.path.join(folder, "training_curves.png"))

    def row_extras(self, unit, data, records):
        return {"labelled": records[0]["labelled"]}

    def baselines(self, data, configs):
        """Constant predictions on the test set, scored by the same metric code:
        every label's training prevalence as its probability (AUC 0.5; weighted
        F1 of predicting the labels whose prevalence reaches the threshold), the
        per-label majority, and every label on every meme."""
        from memotion_tf.evaluation.metrics import summarize_runs
        from memotion_tf.evaluation.multilabel import multilabel_metrics

        threshold = float(configs[0].protocol.get("threshold", 0.5))
        prevalence = data.labels[data.train_index].mean(axis=0)
        n = len(data.test_labels)
        constants = (
            ("training prevalence of each label", prevalence),
            ("per-label majority of train", (prevalence >= 0.5).astype("float32")),
            ("every label on every meme", np.ones_like(prevalence)),
        )
        rows = []
        for system, scores in constants:
            metrics = multilabel_metrics(data.test_labels, np.tile(scores, (n, 1)), threshold)
            rows.append({"system": system, "baseline": True, "metrics": {k: summarize_runs([v])
                                                                         for k, v in metrics.items()},
                         "paper": {}, "seeds": []})
        return rows

    # ------------------------------------------------------------- results

    def results_extras(self, data, configs):
        return {
            "clip": data.clip_spec,
            "feature_cache": dict({split: {"digest": d, "hit": data.cache_hits[split]}
                                   for split, d in data.feature_digests.items()}, folder=data.cache_dir),
            "paper_baselines": {m: {r: dict(zip(BASELINES, v)) for r, v in t.items()}
                                for m, t in PAPER_BASELINES.items()},
        }

    def markdown(self, results):
        from memotion_tf.evaluation.report import format_paper_value, format_summary, results_header

        def ours(summary):
            return format_summary(summary, digits=4)  # the paper's tables give 4 decimals

        clip = results.get("clip", {}).get("preset") or "a small random-init CLIP (embedded default)"
        data = results.get("data", {})
        lines = results_header(self.title, results, f"task {results['task']}", "MAMI",
                               details=f", CLIP: {clip}. Test set: {data.get('test', '?')} memes")
        if not results.get("clip", {}).get("preset"):
            lines.append("**Features from a randomly initialised CLIP only exercise the machinery.**")
        lines += ["", "## Ours beside the paper (Tables 3, 4 and 5)", "",
                  "| System | label ratio | paper weighted-F1 | paper AUC | ours weighted-F1 | ours AUC | runs |",
                  "|---|---|---|---|---|---|---|"]
        for row in results["rows"]:
            paper = row["paper"]
            lines.append(f"| {row['system']} | {ratio_key(row['ratio'])} | "
                         f"{format_paper_value(paper.get('test_weighted_f1'), 4)} | "
                         f"{format_paper_value(paper.get('test_auc'), 4)} | "
                         f"{ours(row['metrics'].get('weighted_f1'))} | {ours(row['metrics'].get('auc'))} | "
                         f"{len(row['seeds'])} |")
        for row in results.get("baselines", ()):
            lines.append(f"| *{row['system']}* | any | - | - | {ours(row['metrics'].get('weighted_f1'))} | "
                         f"{ours(row['metrics'].get('auc'))} | - |")
        lines += ["", "## The paper's other baselines (printed from Tables 3 and 4, not trained here)", "",
                  "| metric | label ratio | " + " | ".join(BASELINES) + " |",
                  "|---|---|" + "---|" * len(BASELINES)]
        for metric, label in METRICS:
            for ratio, values in PAPER_BASELINES[metric].items():
                lines.append(f"| {label} | {ratio} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
        lines += ["", "Ours: mean ± sample std [min, max] over the runs. Rows in italics are trivial baselines: "
                  "constant predictions on the same test set, scored by the same code."]
        lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines).rstrip() + "\n"

    def plot_results(self, results, out_dir):
        plot_summary(results, os.path.join(out_dir, "summary.png"))

    # ---------------------------------------------------------- evaluation

    def evaluate(self, saved_model, meta, data_dir, split, batch_size=64, output=None):
        return evaluate_saved_model(saved_model, meta, data_dir, split, batch_size)


def plot_summary(results, path):
    """Weighted F1 and AUC against the label ratio: ours (mean, min-max bars),
    the paper's "Ours", and the best trivial baseline as a grey line."""
    from memotion_tf.evaluation.plots import plt, save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    systems = list(dict.fromkeys(r["system"] for r in results["rows"]))
    ratios = sorted({r["ratio"] for r in results["rows"]})
    for ax, (metric, label) in zip(axes, METRICS):
        for i, system in enumerate(systems):
            rows = sorted((r for r in results["rows"] if r["system"] == system and metric in r["metrics"]),
                          key=lambda r: r["ratio"])
            if not rows:
                continue
            x = [r["ratio"] for r in rows]
            mean = np.array([r["metrics"][metric]["mean"] for r in rows])
            low = mean - np.array([r["metrics"][metric]["min"] for r in rows])
            high = np.array([r["metrics"][metric]["max"] for r in rows]) - mean
            ax.errorbar(x, mean, yerr=[low, high], marker="o", capsize=3, color=f"C{i}", label=f"{system} (ours)")
        paper = sorted((r["ratio"], r["paper"].get(f"test_{metric}")) for r in results["rows"]
                       if r["system"] == "Ours" and r["paper"].get(f"test_{metric}") is not None)
        if paper:
            ax.plot(*zip(*paper), color="black", linestyle="--", marker="x", label="Ours (paper)")
        trivial = [b["metrics"][metric]["mean"] for b in results.get("baselines", ()) if metric in b["metrics"]]
        if trivial:
            ax.axhline(max(trivial), color="grey", linestyle=":", label="best trivial baseline")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(ratios, labels=[ratio_key(r) for r in ratios])
        ax.set_xlabel("label ratio")
        ax.set_ylabel(f"test {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Semi-supervised MAMI: ours against the label ratio", fontsize=10)
    save_figure(fig, path)
