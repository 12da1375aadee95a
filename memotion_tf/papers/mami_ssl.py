"""Semi-supervised MAMI (CROM-AE + RAW-N-COOK): Tables 3, 4 and 5, and a
supervised CLIP-features baseline.

    MAMI TRAINING (split 8,000 / 2,000) + test (1,000)
      -> CLIP image and text embeddings, extracted once per split and cached
      -> per seed: CROM-AE on every training meme (labels unused)
      -> per system, label ratio (0.3 / 0.1 / 0.05) and seed: a seeded labelled
         subset of train; the classifier on it (StepLR, Adam, 50 epochs, batch 40)
      -> weighted F1 and ROC AUC on test, mean/std/min/max over the seeds
      -> per row: SavedModel (CLIP + encoders + classifier, raw text and image
         bytes in), ROC curves, per-label confusion matrices, training curves
      -> results.json / results.md: ours beside the paper's numbers and the
         paper's other baselines.

The rows (configs under `configs/mami_ssl/`):

| system                           | CROM-AE encoders | loss               |
|----------------------------------|------------------|--------------------|
| Ours                             | yes              | DB focal           |
| w/o CROM-AE encoders             |                  | DB focal           |
| w/o DB loss                      | yes              | BCE                |
| w/o DB loss + CROM-AE encoders   |                  | BCE                |
| Supervised CLIP features (linear)|                  | BCE, linear probe  |

Choices where the paper (a slide deck) is silent, also in the configs' notes:
- Task. Tables 3-4 report "weighted-average F1" and AUC; weighted F1 is the
  official MAMI subtask B score and the DB loss is a multi-label loss, so the
  task is B: four labels (shaming, stereotype, objectification, violence).
- StepLR steps once per epoch (step size 1): with gamma 0.85-0.93 over 50
  epochs, a larger step would make the per-ratio tuning of gamma moot.
- CROM-AE uses the same optimiser, epochs and batch size (Table 2) without
  StepLR, since it does not depend on the label ratio; it is trained once per
  seed and shared by the rows that use its encoders.
- The labelled subset is redrawn per seed (the split train/val is fixed by
  `split_seed`); seed k of every row uses the same subset, so rows are paired.
- The model after the last epoch is evaluated (the paper shows validation
  curves but names no model selection); predictions at probability 0.5.
- The supervised CLIP-features baseline is a linear classifier (logistic
  regression) on the concatenated CLIP features, BCE, labelled subset only;
  "w/o DB loss + CROM-AE encoders" is the same features with RAW-N-COOK's MLP.
"""

import dataclasses
import json
import logging
import math
import os

import numpy as np

from memotion_tf import config as config_lib
from memotion_tf.evaluation.report import format_summary, results_header
from memotion_tf.experiments import CONFIG_DIR, slug, synthetic_dir
from memotion_tf.io import atomic_file, atomic_write_json, atomic_write_text
from memotion_tf.training.backup import AtomicBackupAndRestore

log = logging.getLogger("memotion_tf")

PAPER = "mami-ssl"
CONFIGS = [
    "mami_ssl/ours.toml",
    "mami_ssl/wo_crom_ae.toml",
    "mami_ssl/wo_db_loss.toml",
    "mami_ssl/wo_db_loss_crom_ae.toml",
    "mami_ssl/supervised_clip.toml",
]
TITLE = ("Multimodal semi-supervised learning for sentiment analysis of image macros "
         "(CROM-AE + RAW-N-COOK), Tables 3-5: MAMI subtask B")
METRICS = (("weighted_f1", "weighted-F1"), ("auc", "AUC"))

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
    "feature_cache": "folder of the cached features (default <out>/features)",
}
# Protocol keys that every row must share (they define the features and CROM-AE).
SHARED_KEYS = ("normalize_features", "clip_init_seed", "tiny_clip", "crom_ae", "feature_batch_size",
               "feature_cache")
LOSSES = ("distribution_balanced", "binary_crossentropy")
SCHEDULES = ("step", "constant")


def ratio_key(ratio):
    return f"{float(ratio):g}"


# --------------------------------------------------------------------------
# Configs.
# --------------------------------------------------------------------------


def config_files():
    return [os.path.join(CONFIG_DIR, c) for c in CONFIGS]


def check_config(config):
    """Errors that name the config file, before anything is trained."""
    where = config.config_path or config.system
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
    unknown = set(config.protocol) - set(PROTOCOL_KEYS)
    if unknown:
        problems.append(f"unknown protocol key(s) {sorted(unknown)}; known: {sorted(PROTOCOL_KEYS)}")
    ratios = config.protocol.get("ratios", [])
    if not ratios or not all(0 < float(r) < 1 for r in ratios):
        problems.append(f"protocol.ratios must be fractions in (0, 1), got {ratios!r}")
    if config.lr_schedule == "step":
        missing = [ratio_key(r) for r in ratios if ratio_key(r) not in config.protocol.get("step_gamma", {})]
        if missing:
            problems.append(f"protocol.step_gamma has no gamma for ratio(s) {missing}")
    if "latent_dim" not in config.protocol.get("crom_ae", {}):
        problems.append("protocol.crom_ae.latent_dim is required")
    if problems:
        raise config_lib.ConfigError(f"{where}: " + "; ".join(problems))
    return config


def load_configs(profile="quick", overrides=(), systems=None):
    configs = [check_config(config_lib.load_config(p, profile, overrides)) for p in config_files()]
    configs = config_lib.select_systems(configs, systems, PAPER)
    first = configs[0]
    for config in configs[1:]:
        for field in ("dataset", "task", "text_field", "preset", "image_size", "max_length",
                      "val_fraction", "split_seed", "synthetic_size"):
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
    return configs


def uses_encoders(config):
    return bool(config.model_args.get("use_encoders", True))


# --------------------------------------------------------------------------
# Data and features.
# --------------------------------------------------------------------------


@dataclasses.dataclass
class SSLData:
    """Everything the rows share: frames, labels, split and cached CLIP features."""

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

    def inputs(self, split, index=None):
        feats = self.features[split]
        if index is None:
            return dict(feats)
        return {k: v[index] for k, v in feats.items()}


def ensure_data(config, data_dir=None):
    """(dataset folder, synthetic?): the embedded synthetic MAMI is written once."""
    from memotion_tf.datasets.mami import write_synthetic_mami

    if data_dir:
        return data_dir, False
    path = synthetic_dir("mami", config.synthetic_size)
    if not os.path.exists(path):
        log.info("writing %d synthetic MAMI memes to %s", config.synthetic_size, path)
        write_synthetic_mami(path, size=config.synthetic_size, seed=0)
    return path, True


def clip_spec(config):
    """What identifies the CLIP model besides its weights (part of the cache key)."""
    spec = {"preset": config.preset}
    if not config.preset:
        spec.update(tiny_clip=dict(config.protocol.get("tiny_clip", {})),
                    init_seed=int(config.protocol.get("clip_init_seed", 0)))
    return spec


def build_feature_model(config):
    """(CLIPFeatureExtractor, CLIPTextVectorizer) for a config."""
    from memotion_tf.features.clip import CLIPFeatureExtractor, CLIPTextVectorizer, build_clip

    backbone, tokenizer = build_clip(
        config.preset, image_size=config.image_size, sequence_length=config.max_length,
        init_seed=int(config.protocol.get("clip_init_seed", 0)), **config.protocol.get("tiny_clip", {}))
    extractor = CLIPFeatureExtractor(backbone, normalize=bool(config.protocol.get("normalize_features", True)))
    vectorizer = CLIPTextVectorizer(tokenizer, sequence_length=config.max_length, standardize="mami_clean")
    vectorizer.build(None)  # export needs it built even when the features come from the cache
    return extractor, vectorizer


def read_splits(config, data_dir, progress=False):
    """({split: frame}, {split: skip report}) of MAMI's train and test, images
    checked; from the files, or through TFDS with `data_source = "tfds"`."""
    from memotion_tf.datasets.common import check_images
    from memotion_tf.datasets.mami import read_mami
    from memotion_tf.experiments import read_records

    frames, reports = {}, {}
    for split in ("train", "test"):
        data = read_records(config, data_dir, read_mami, split=split, task=config.task, text_field=config.text_field)
        log.info("read %d %s memes from %s", len(data.frame), split, data.texts_file)
        frames[split], reports[split] = check_images(data.frame, progress=progress)
        log.info(reports[split].summary())
    return frames, reports


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
        clip_spec=spec, data_dir=data_dir, synthetic=synthetic, skip_reports=reports,
    )


# --------------------------------------------------------------------------
# Training.
# --------------------------------------------------------------------------


def _fit_verbose(verbose):
    return 0 if verbose is None else verbose


def ae_settings(config):
    ae = dict(config.protocol["crom_ae"])
    return {"latent_dim": int(ae["latent_dim"]), "epochs": int(ae.get("epochs", config.epochs)),
            "batch_size": int(ae.get("batch_size", config.batch_size)),
            "learning_rate": float(ae.get("learning_rate", config.learning_rate))}


def train_crom_ae(config, data, seed, strategy, backup_dir=None, verbose=None):
    """CROM-AE on every training meme (labelled and unlabelled); validation
    memes give the validation curves. Returns (model, history dict)."""
    import keras

    from memotion_tf.models.crom_ae import CROMAE

    settings = ae_settings(config)
    train = data.inputs("train", data.train_index)
    val = data.inputs("train", data.val_index)

    def targets(x):
        return {"text_from_image": x["text_features"], "image_from_text": x["image_features"]}

    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = CROMAE(image_dim=train["image_features"].shape[1], text_dim=train["text_features"].shape[1],
                       latent_dim=settings["latent_dim"])
        model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]),
                      loss={"text_from_image": "mse", "image_from_text": "mse"})
    callbacks = [AtomicBackupAndRestore(backup_dir, delete_checkpoint=True)] if backup_dir else []
    history = model.fit(train, targets(train), validation_data=(val, targets(val)),
                        batch_size=settings["batch_size"] * strategy.num_replicas_in_sync,
                        epochs=settings["epochs"], callbacks=callbacks, verbose=_fit_verbose(verbose))
    return model, {k: [float(v) for v in vs] for k, vs in history.history.items()}


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


def train_classifier(config, data, ratio, seed, strategy, crom_ae=None, backup_dir=None, verbose=None):
    """RAW-N-COOK (or an ablation) on the labelled subset only. Returns
    (model, history, labelled positions)."""
    import keras

    labelled = labelled_rows(data, ratio, seed)
    x, y = data.inputs("train", labelled), data.labels[labelled]
    val_x, val_y = data.inputs("train", data.val_index), data.labels[data.val_index]
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    steps = math.ceil(len(labelled) / global_batch)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_classifier(config, data, crom_ae)
        model.compile(optimizer=keras.optimizers.Adam(step_lr(config, ratio, steps)),
                      loss=make_loss(config, y))
    callbacks = [AtomicBackupAndRestore(backup_dir, delete_checkpoint=True)] if backup_dir else []
    history = model.fit(x, y, validation_data=(val_x, val_y), batch_size=global_batch, epochs=config.epochs,
                        callbacks=callbacks, verbose=_fit_verbose(verbose))
    return model, {k: [float(v) for v in vs] for k, vs in history.history.items()}, labelled


def predict_probabilities(model, inputs, batch_size=256):
    logits = model.predict(inputs, batch_size=batch_size, verbose=0)
    return (1.0 / (1.0 + np.exp(-logits.astype("float64")))).astype("float32")


# --------------------------------------------------------------------------
# Rows, records and export.
# --------------------------------------------------------------------------


def _signature(config, ratio):
    """What a finished run depends on: the config without what does not change
    its training (other ratios' settings, export, paths, paper numbers)."""
    keep = dataclasses.asdict(config)
    for key in ("paper_metrics", "notes", "config_path", "seeds", "logical_cpus"):
        keep.pop(key)
    protocol = keep.pop("protocol")
    keep["protocol"] = {k: v for k, v in protocol.items()
                        if k not in ("export_ratios", "feature_cache", "ratios", "step_gamma")}
    keep["ratio"] = float(ratio)
    if config.lr_schedule == "step":
        keep["protocol"]["step_gamma"] = protocol["step_gamma"][ratio_key(ratio)]
    return keep


def row_dir_name(system, ratio):
    return f"{slug(system).strip('_')}_ratio-{ratio_key(ratio)}"


class CROMAEStore:
    """One CROM-AE per seed, trained on first use, kept in memory and on disk
    (`<out>/CROM-AE/seed_<k>/`), reused while its settings and features are unchanged."""

    def __init__(self, config, data, out_dir, strategy, verbose=None):
        self.config, self.data, self.strategy, self.verbose = config, data, strategy, verbose
        self.folder = os.path.join(out_dir, "CROM-AE")
        self.models, self.histories = {}, {}

    def signature(self, seed):
        return {"crom_ae": ae_settings(self.config), "train_features": self.data.feature_digests["train"],
                "split_seed": self.config.split_seed, "val_fraction": self.config.val_fraction, "seed": seed}

    def get(self, seed):
        if seed in self.models:
            return self.models[seed], self.histories[seed]
        from memotion_tf.models.crom_ae import CROMAE

        folder = os.path.join(self.folder, f"seed_{seed}")
        record_path = os.path.join(folder, "record.json")
        weights_path = os.path.join(folder, "crom_ae.weights.h5")
        signature = self.signature(seed)
        model = None
        if os.path.exists(record_path) and os.path.exists(weights_path):
            with open(record_path) as f:
                record = json.load(f)
            if record.get("signature") == signature:
                feats = self.data.features["train"]
                with self.strategy.scope():
                    model = CROMAE(image_dim=feats["image_features"].shape[1],
                                   text_dim=feats["text_features"].shape[1],
                                   latent_dim=signature["crom_ae"]["latent_dim"])
                model.load_weights(weights_path)
                history = record["history"]
                log.info("CROM-AE seed %d: reusing %s", seed, weights_path)
        if model is None:
            log.info("CROM-AE seed %d: training on %d memes (%d epochs)", seed, len(self.data.train_index),
                     signature["crom_ae"]["epochs"])
            model, history = train_crom_ae(self.config, self.data, seed, self.strategy,
                                           backup_dir=os.path.join(folder, "backup"), verbose=self.verbose)
            log.info("CROM-AE seed %d: reconstruction MSE image->text %.4f, text->image %.4f (validation)",
                     seed, history["val_text_from_image_loss"][-1], history["val_image_from_text_loss"][-1])
            with atomic_file(weights_path) as tmp:
                model.save_weights(tmp)
            atomic_write_json(record_path, {"seed": seed, "signature": signature, "history": history})
        self.models[seed], self.histories[seed] = model, history
        return model, history


def export_row(model, data, config, ratio, seed, metrics, path):
    from memotion_tf.export import export_classifier
    from memotion_tf.models.crom_ae import clip_meme_classifier

    composed = clip_meme_classifier(data.extractor, model)
    return export_classifier(
        composed, path, class_names=data.label_names, vectorizer=data.vectorizer, image_size=data.image_size,
        multi_label=True, threshold=float(config.protocol.get("threshold", 0.5)),
        metadata={
            "paper": PAPER, "system": config.system, "dataset": config.dataset, "task": config.task,
            "text_field": config.text_field, "label_ratio": ratio, "seed": seed,
            "val_fraction": config.val_fraction, "split_seed": config.split_seed,
            "clip": data.clip_spec, "text_cleaning": "mami_clean (inside the SavedModel)",
            "evaluation_split": "test",
            "test_metrics": metrics,
        },
    )


def run_row(config, ratio, data, out_dir, strategy, ae_store, seeds=None, verbose=None):
    """Train `seeds` runs of one system at one label ratio; export the first;
    plot; return the results row."""
    from memotion_tf.evaluation.metrics import summarize_runs
    from memotion_tf.evaluation.multilabel import (
        multilabel_metrics, plot_label_confusions, plot_roc_curves, plot_ssl_curves,
    )

    seeds = list(range(config.seeds if seeds is None else seeds))
    row_dir = os.path.join(out_dir, row_dir_name(config.system, ratio))
    saved_model = os.path.join(row_dir, "saved_model")
    export = any(math.isclose(float(ratio), float(r)) for r in config.protocol.get("export_ratios", [ratio]))
    threshold = float(config.protocol.get("threshold", 0.5))
    with_encoders = uses_encoders(config)
    runs = []
    for seed in seeds:
        signature = dict(_signature(config, ratio), features=data.feature_digests,
                         crom_ae=ae_store.signature(seed) if with_encoders else None)
        record_path = os.path.join(row_dir, "runs", f"seed_{seed}.json")
        if os.path.exists(record_path):
            with open(record_path) as f:
                record = json.load(f)
            if record.get("signature") == signature and (
                    seed != seeds[0] or not export or os.path.exists(saved_model)):
                log.info("%s @ %s seed %d: already finished, reusing %s", config.system, ratio, seed, record_path)
                runs.append(record)
                continue
        crom_ae = ae_store.get(seed)[0] if with_encoders else None
        model, history, labelled = train_classifier(
            config, data, ratio, seed, strategy, crom_ae=crom_ae,
            backup_dir=os.path.join(row_dir, "backup", f"seed_{seed}"), verbose=verbose)
        probabilities = predict_probabilities(model, data.inputs("test"))
        metrics = multilabel_metrics(data.test_labels, probabilities, threshold)
        val_metrics = multilabel_metrics(data.labels[data.val_index],
                                         predict_probabilities(model, data.inputs("train", data.val_index)),
                                         threshold)
        log.info("%s @ ratio %s seed %d (%d labelled): test weighted-F1 %.4f, AUC %.4f", config.system,
                 ratio_key(ratio), seed, len(labelled), metrics["weighted_f1"], metrics["auc"])
        if seed == seeds[0] and export:
            export_row(model, data, config, ratio, seed, metrics, saved_model)
            log.info("%s @ ratio %s: exported SavedModel to %s", config.system, ratio_key(ratio), saved_model)
        record = {"seed": seed, "signature": signature, "labelled": int(len(labelled)), "metrics": metrics,
                  "val_metrics": val_metrics, "history": history,
                  "test_probabilities": probabilities.round(6).tolist()}
        atomic_write_json(record_path, record)
        runs.append(record)

    first = runs[0]
    probabilities = np.asarray(first["test_probabilities"])
    title = f"{config.system}, label ratio {ratio_key(ratio)} (seed {first['seed']}, test)"
    plot_roc_curves(data.test_labels, probabilities, data.label_names, title,
                    os.path.join(row_dir, "roc_curves.png"))
    plot_label_confusions(data.test_labels, (probabilities >= threshold).astype(int), data.label_names, title,
                          os.path.join(row_dir, "confusion_matrix.png"))
    ae_histories = [ae_store.get(r["seed"])[1] for r in runs] if with_encoders else []
    plot_ssl_curves(ae_histories, [r["history"] for r in runs],
                    f"{config.system}, label ratio {ratio_key(ratio)}: training curves",
                    os.path.join(row_dir, "training_curves.png"))
    return {
        "system": config.system,
        "ratio": float(ratio),
        "config": config.config_path,
        "seeds": [r["seed"] for r in runs],
        "labelled": first["labelled"],
        "metrics": {m: summarize_runs([r["metrics"][m] for r in runs]) for m, _ in METRICS},
        "paper": dict(config.paper_metrics.get(ratio_key(ratio), {})),
        "saved_model": os.path.relpath(saved_model) if export else None,
        "notes": config.notes,
    }


# --------------------------------------------------------------------------
# Results.
# --------------------------------------------------------------------------


def _fmt(summary):
    return format_summary(summary, digits=4)  # the papers' tables give 4 decimals


def _paper(value):
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def results_markdown(results):
    clip = results["clip"]["preset"] or "a small random-init CLIP (embedded default)"
    lines = results_header(TITLE, results, f"task {results['task']}", "MAMI",
                           details=f", CLIP: {clip}. Test set: {results['test_examples']} memes")
    if not results["clip"]["preset"]:
        lines.append("**Features from a randomly initialised CLIP only exercise the machinery.**")
    lines += ["", "## Ours beside the paper (Tables 3, 4 and 5)", "",
              "| System | label ratio | paper weighted-F1 | paper AUC | ours weighted-F1 | ours AUC | runs |",
              "|---|---|---|---|---|---|---|"]
    for row in results["rows"]:
        paper = row["paper"]
        lines.append(f"| {row['system']} | {ratio_key(row['ratio'])} | {_paper(paper.get('test_weighted_f1'))} | "
                     f"{_paper(paper.get('test_auc'))} | {_fmt(row['metrics']['weighted_f1'])} | "
                     f"{_fmt(row['metrics']['auc'])} | {len(row['seeds'])} |")
    lines += ["", "## The paper's other baselines (printed from Tables 3 and 4, not trained here)", "",
              "| metric | label ratio | " + " | ".join(BASELINES) + " |",
              "|---|---|" + "---|" * len(BASELINES)]
    for metric, label in METRICS:
        for ratio, values in PAPER_BASELINES[metric].items():
            lines.append(f"| {label} | {ratio} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    lines += ["", "Ours: mean ± sample std [min, max] over the runs; weighted F1 is the official MAMI "
              "subtask B score, AUC the support-weighted mean of the per-label ROC AUCs. "
              "The ablation rows have paper numbers only at ratio 0.3 (Table 5, weighted F1)."]
    return "\n".join(lines).rstrip() + "\n"


def plot_summary(results, path):
    """Weighted F1 and AUC against the label ratio, ours (mean, min-max bars) and the paper's "Ours"."""
    from memotion_tf.evaluation.plots import plt, save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    systems = list(dict.fromkeys(r["system"] for r in results["rows"]))
    for ax, (metric, label) in zip(axes, METRICS):
        for i, system in enumerate(systems):
            rows = sorted((r for r in results["rows"] if r["system"] == system), key=lambda r: r["ratio"])
            x = [r["ratio"] for r in rows]
            mean = np.array([r["metrics"][metric]["mean"] for r in rows])
            low = mean - np.array([r["metrics"][metric]["min"] for r in rows])
            high = np.array([r["metrics"][metric]["max"] for r in rows]) - mean
            ax.errorbar(x, mean, yerr=[low, high], marker="o", capsize=3, color=f"C{i}", label=f"{system} (ours)")
        paper = sorted((r["ratio"], r["paper"].get(f"test_{metric}")) for r in results["rows"]
                       if r["system"] == "Ours" and r["paper"].get(f"test_{metric}") is not None)
        if paper:
            ax.plot(*zip(*paper), color="black", linestyle="--", marker="x", label="Ours (paper)")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks([0.05, 0.1, 0.3], labels=["0.05", "0.1", "0.3"])
        ax.set_xlabel("label ratio")
        ax.set_ylabel(f"test {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Semi-supervised MAMI: ours against the label ratio", fontsize=10)
    save_figure(fig, path)


def run_configs(configs, profile, data_dir=None, out_dir=None, seeds=None, verbose=None):
    """Train every row of `configs` (each at each of its ratios) and write the
    results under `out_dir` (default `runs/mami_ssl`)."""
    from memotion_tf.training.strategy import get_strategy, single_machine

    first = configs[0]
    out_dir = out_dir or os.path.join("runs", "mami_ssl")
    strategy = single_machine(get_strategy(first.logical_cpus), "MAMI-SSL")
    data_path, synthetic = ensure_data(first, data_dir)
    cache_dir = first.protocol.get("feature_cache") or os.path.join(out_dir, "features")
    data = prepare_data(first, data_path, synthetic, cache_dir)
    ae_config = next((c for c in configs if uses_encoders(c)), first)
    ae_store = CROMAEStore(ae_config, data, out_dir, strategy, verbose=verbose)
    rows = []
    for config in configs:
        for ratio in config.protocol["ratios"]:
            rows.append(run_row(config, float(ratio), data, out_dir, strategy, ae_store, seeds=seeds,
                                verbose=verbose))
    results = {
        "paper": PAPER, "dataset": first.dataset, "task": first.task, "synthetic": synthetic,
        "profile": profile, "rows": rows,
        "clip": data.clip_spec, "test_examples": int(len(data.test_frame)),
        "train_examples": int(len(data.train_index)), "val_examples": int(len(data.val_index)),
        "skipped_images": {split: len(report.skipped) for split, report in data.skip_reports.items()},
        "feature_cache": {split: {"digest": d, "hit": data.cache_hits[split]}
                          for split, d in data.feature_digests.items()},
        "paper_baselines": {m: {r: dict(zip(BASELINES, v)) for r, v in t.items()}
                            for m, t in PAPER_BASELINES.items()},
    }
    markdown = results_markdown(results)
    atomic_write_json(os.path.join(out_dir, "results.json"), results)
    atomic_write_text(os.path.join(out_dir, "results.md"), markdown)
    plot_summary(results, os.path.join(out_dir, "summary.png"))
    return results, markdown


def reproduce(profile="quick", data_dir=None, out_dir=None, seeds=None, systems=None, overrides=(),
              verbose=None, logical_cpus=None):
    """Run every row (system x label ratio) of Tables 3-5 and the supervised
    baseline; write results.json / results.md, SavedModels and plots under
    `out_dir` (default `runs/mami_ssl`)."""
    configs = load_configs(profile, overrides, systems)
    if logical_cpus is not None:
        configs = [c.replace(logical_cpus=logical_cpus) for c in configs]
    return run_configs(configs, profile, data_dir, out_dir, seeds, verbose)


def train_config(path, profile="quick", data_dir=None, out_dir=None, overrides=(), verbose=None):
    """One config file's rows (`memotion-tf train --config configs/mami_ssl/ours.toml`)."""
    config = check_config(config_lib.load_config(path, profile, overrides))
    return run_configs([config], profile, data_dir, out_dir, None, verbose)


def evaluate_saved_model(saved_model, data_dir, split="test", batch_size=64):
    """Weighted F1 and AUC of an exported row, from the SavedModel alone (raw
    transcriptions and image bytes in), on `split`: "test", or "val" / "train"
    as the SavedModel's metadata (`split_seed`, `val_fraction`) defines them."""
    import tensorflow as tf

    from memotion_tf.datasets.common import check_images
    from memotion_tf.datasets.mami import label_columns, read_mami, split_mami
    from memotion_tf.evaluation.multilabel import multilabel_metrics
    from memotion_tf.export import load_exported

    serve, meta, _ = load_exported(saved_model)
    frame, _ = check_images(read_mami(data_dir, task=meta["task"], text_field=meta["text_field"],
                                      split="test" if split == "test" else "train").frame, progress=False)
    if split in ("train", "val"):
        train, val = split_mami(frame, seed=meta["split_seed"], val_fraction=meta["val_fraction"])
        frame = frame.iloc[train if split == "train" else val].reset_index(drop=True)
    elif split != "test":
        raise ValueError(f"unknown split {split!r}; expected test, val or train")
    probabilities = []
    for start in range(0, len(frame), batch_size):
        chunk = frame.iloc[start:start + batch_size]
        images = [tf.io.read_file(p) for p in chunk["image_path"]]
        out = serve(text=tf.constant(chunk["raw_text"].tolist()), image=tf.stack(images))
        probabilities.append(out["probabilities"].numpy())
    labels = frame[label_columns(meta["task"])].to_numpy()
    metrics = multilabel_metrics(labels, np.concatenate(probabilities), threshold=meta["threshold"])
    return {"saved_model": saved_model, "system": meta.get("system"), "label_ratio": meta.get("label_ratio"),
            "split": split, "examples": int(len(frame)), "metrics": metrics}
