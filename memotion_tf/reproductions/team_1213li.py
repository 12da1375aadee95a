"""1213Li at SemEval-2021 Task 6, subtask 3: the ablation (Table 1, dev set) and
the 5-model ensemble (Table 2, test set).

    corpus (official layout or embedded synthetic) -> image check -> tokens
    -> frozen ResNet-50 features, computed once per image
    -> per row: train the label-attention model (BCE, Adam) on train, pick the
       epoch with the best dev micro-F1, score dev (Table 1), export, check the export
    -> ensemble: "+ full att" on the official split and on four splits where 64
       random memes of train+dev are the dev set; average the test
       probabilities, threshold, write and check the official predictions file,
       score (Table 2) beside the leaderboard.

The paper key is `1213li`; a Python module name cannot start with a digit, hence
`team_1213li`. Python (the pipeline script calls this):

    from memotion_tf.reproductions.team_1213li import reproduce
    results, markdown = reproduce(profile="quick", out_dir="runs/1213li")

Frozen image features. ResNet-50 is frozen and images are not augmented, so its
49 x 2048 output for a meme never changes during training. We run it once per
image (one reference ResNet-50 per reproduction, whose weights every model
copies; with random init that makes every system see the same features), train
each model's `fusion` graph on those features, and export the whole model
(raw text + image bytes -> 22 probabilities). After each export the SavedModel
is run on raw dev memes and its probabilities are compared with the in-memory
ones (`export_check` in results.json).

Resume: a finished row (seed) is recorded in `<out>/<system>/runs/seed_<k>.json`
and an ensemble member in `<out>/1213Li/members/member_<k>.json` (with its
weights); they are reused when the config and the data are unchanged. An
interrupted training continues from `keras.callbacks.BackupAndRestore`.
"""

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys

import numpy as np

from memotion_tf import config as config_lib
from memotion_tf.datasets.semeval21_task6 import (
    REAL_SIZES,
    SPLITS,
    TECHNIQUES,
    multi_hot,
    read_semeval21_task6,
    write_synthetic_semeval21_task6,
)
from memotion_tf.evaluation.report import format_summary, results_header
from memotion_tf.experiments import CONFIG_DIR, slug, synthetic_dir
from memotion_tf.io import atomic_file, atomic_write_json, atomic_write_text
from memotion_tf.training.backup import AtomicBackupAndRestore

log = logging.getLogger("memotion_tf")

PAPER = "1213li"
TITLE = "1213Li at SemEval-2021 Task 6, subtask 3: persuasion techniques in memes"
# Table 1's rows in order, then the Table 2 system.
CONFIGS = [
    "1213li/roberta_resnet50.toml",
    "1213li/visual_att.toml",
    "1213li/textual_att.toml",
    "1213li/full_att.toml",
    "1213li/ensemble.toml",
]
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
METRICS = ("micro_f1", "macro_f1")
NOTES = [
    "Micro F1 is the official ranking metric; both are computed as the task's scorer does "
    "(MultiLabelBinarizer over the 22 techniques, scikit-learn F1, zero_division=1).",
    "Table 1: each row is trained on train and scored on dev at the epoch with the best dev "
    "micro F1 (the paper picks its models on dev), so the dev numbers are optimistic, as the paper's are.",
    "Table 2: five `+ full att` models (the official split and four splits with 64 random memes of "
    "train+dev as dev), test probabilities averaged, threshold 0.5 (the paper gives none).",
]


# ---------------------------------------------------------------------- data


def ensure_corpus(config, data_dir=None):
    """The corpus folder and whether it is synthetic. Without `data_dir` the
    embedded synthetic corpus (`protocol.synthetic_sizes` memes per split) is
    written once under data/synthetic/ and reused."""
    if data_dir:
        return os.fspath(data_dir), False
    sizes = tuple(int(n) for n in config.protocol.get("synthetic_sizes", REAL_SIZES))
    path = synthetic_dir(config.dataset, "-".join(str(n) for n in sizes))
    if not os.path.exists(path):
        log.info("writing synthetic %s memes (train/dev/test %s) to %s", config.dataset, sizes, path)
        write_synthetic_semeval21_task6(path, sizes=sizes, seed=0)
    return path, True


@dataclasses.dataclass
class Split:
    """One split's usable memes and everything the models need from them."""

    frame: object  # pandas DataFrame from the reader, unreadable images dropped
    targets: np.ndarray  # (memes, 22) multi-hot, TECHNIQUES order
    skipped: int

    @property
    def ids(self):
        return [str(i) for i in self.frame["id"]]

    @property
    def gold(self):
        return [list(labels) for labels in self.frame["labels"]]


def read_corpus(data_dir, progress=True, config=None):
    """Read and image-check the three splits (from the files, or through TFDS
    when `config.data_source` says so). A meme whose image is missing or
    unreadable is reported and dropped (counted in `skipped`)."""
    from memotion_tf.datasets.common import check_images
    from memotion_tf.experiments import read_records

    splits = {}
    for name in SPLITS:
        data = read_records(config or config_lib.ExperimentConfig(dataset="semeval21_task6"), data_dir,
                            read_semeval21_task6, split=name)
        if len(data.frame) == 0:  # check_images would drop the columns of an empty frame
            splits[name] = Split(frame=data.frame, targets=data.targets, skipped=0)
            continue
        frame, report = check_images(data.frame, progress=progress)
        log.info("%s: %d memes from %s; %s", name, len(data.frame), data.json_file, report.summary())
        splits[name] = Split(frame=frame, targets=multi_hot(frame["labels"]), skipped=len(report.skipped))
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


def image_features(encoder, frame, image_size, batch_size=32):
    """V for every meme of `frame`: (memes, regions, 2048), through the same
    decoder the exported model uses."""
    import tensorflow as tf

    from memotion_tf.preprocessing.image import load_image

    if len(frame) == 0:
        return np.zeros((0, *encoder.output.shape[1:]), np.float32)
    ds = tf.data.Dataset.from_tensor_slices(frame["image_path"].to_numpy().astype(str))
    ds = ds.map(lambda p: load_image(p, image_size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return encoder.predict(ds.batch(batch_size), verbose=0).astype(np.float32)


class Inputs:
    """Tokens, frozen image features and targets of every split, computed once
    and shared by all systems (features only when a model needs them)."""

    def __init__(self, config, splits):
        import keras

        from memotion_tf.models.label_attention import image_encoder
        from memotion_tf.models.pretrained import text_preprocessor

        self.splits = splits
        self.preset = config.preset
        self.max_length = config.max_length
        self.image_size = config.image_size
        self.image_weights = config.image_weights
        self.image_backbone = config.model_args.get("image_backbone", "resnet50")
        self.preprocessor = text_preprocessor(config.preset, sequence_length=config.max_length)
        self.tokens = {name: tokenize(self.preprocessor, s.frame["text"]) for name, s in splits.items()}
        # One frozen ResNet-50 for the whole reproduction; with random init its
        # weights are fixed by `protocol.image_seed`.
        keras.utils.set_random_seed(int(config.protocol.get("image_seed", 0)))
        self.encoder = image_encoder(self.image_backbone, config.image_size, config.image_weights)
        self._features = {}

    def check(self, config):
        same = (config.preset, config.max_length, config.image_size, config.image_weights,
                config.model_args.get("image_backbone", "resnet50"))
        if same != (self.preset, self.max_length, self.image_size, self.image_weights, self.image_backbone):
            raise config_lib.ConfigError(
                f"{config.config_path}: every row of the 1213Li tables must share preset, max_length, "
                "image_size, image_weights and image_backbone (the text preprocessing and image "
                "features are computed once)"
            )

    def features(self, split):
        if split not in self._features:
            log.info("%s features of the %d %s memes (once)", self.image_backbone, len(self.splits[split].frame),
                     split)
            self._features[split] = image_features(self.encoder, self.splits[split].frame, self.image_size)
        return self._features[split]

    def pool(self, names):
        """(tokens, features, targets) of several splits concatenated."""
        tokens = {k: np.concatenate([self.tokens[n][k] for n in names]) for k in self.tokens[names[0]]}
        features = np.concatenate([self.features(n) for n in names])
        targets = np.concatenate([self.splits[n].targets for n in names])
        return tokens, features, targets


# ------------------------------------------------------------------ training


def _dev_scores_class():
    import keras

    from memotion_tf.evaluation.semeval21_task6 import probabilities_to_labels, score

    class DevScoresCallback(keras.callbacks.Callback):
        """After each epoch, the official micro/macro F1 on the dev memes go
        into the logs (`val_micro_f1`, `val_macro_f1`). With `select_best`, the
        weights of the epoch with the best dev micro F1 are kept (on disk under
        `state_dir`, so a resumed run keeps them too) and restored at the end."""

        def __init__(self, x_dev, gold, threshold, batch_size, state_dir, select_best=True):
            super().__init__()
            self.x_dev, self.gold, self.threshold = x_dev, gold, threshold
            self.batch_size, self.select_best = batch_size, select_best
            self.state_path = os.path.join(state_dir, "dev_scores.json")
            self.weights_path = os.path.join(state_dir, "best.weights.h5")
            self.state = {"best_epoch": None, "best_micro_f1": -1.0, "history": {}}

        def on_train_begin(self, logs=None):
            if os.path.exists(self.state_path) and os.path.exists(self.weights_path):
                with open(self.state_path) as f:
                    self.state = json.load(f)
                log.info("resuming: best dev micro F1 so far %.4f (epoch %s)",
                         self.state["best_micro_f1"], self.state["best_epoch"])

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            probabilities = self.model.predict(self.x_dev, batch_size=self.batch_size, verbose=0)
            scores = score(self.gold, probabilities_to_labels(probabilities, self.threshold))
            logs["val_micro_f1"], logs["val_macro_f1"] = scores["micro_f1"], scores["macro_f1"]
            history = self.state["history"]
            for key, value in logs.items():
                values = history.setdefault(key, [])
                del values[epoch:]  # an epoch run again after a resume replaces its entry
                values.append(float(value))
            if self.select_best and scores["micro_f1"] > self.state["best_micro_f1"]:
                self.state.update(best_epoch=epoch + 1, best_micro_f1=scores["micro_f1"])
                with atomic_file(self.weights_path) as tmp:
                    self.model.save_weights(tmp)
            atomic_write_json(self.state_path, self.state)

        def on_train_end(self, logs=None):
            if self.select_best and self.state["best_epoch"] is not None:
                self.model.load_weights(self.weights_path)
                log.info("kept epoch %d (dev micro F1 %.4f)", self.state["best_epoch"],
                         self.state["best_micro_f1"])

    return DevScoresCallback


def build_model(config, inputs):
    """A LabelAttentionFusion for `config`, its image encoder holding the shared
    reference ResNet-50 weights. Call under the strategy's scope."""
    from memotion_tf.models.label_attention import LabelAttentionFusion
    from memotion_tf.models.pretrained import text_backbone

    backbone_args = dict(config.protocol.get("tiny_backbone", {}))
    if not config.preset:
        backbone_args["vocabulary_size"] = inputs.preprocessor.tokenizer.vocabulary_size()
        backbone_args.setdefault("max_sequence_length", max(config.max_length, 64))
    backbone = text_backbone(config.preset, **backbone_args)
    model = LabelAttentionFusion(backbone, num_labels=len(TECHNIQUES), image_size=config.image_size,
                                 image_weights=config.image_weights, **config.model_args)
    model.image_encoder.set_weights(inputs.encoder.get_weights())
    return model


def _select(arrays, index):
    return {k: v[index] for k, v in arrays.items()}


def _prepare_state(state_dir, signature):
    """`state_dir` holds an interrupted training's checkpoint and dev scores;
    they are kept only if they belong to the same config and data."""
    path = os.path.join(state_dir, "signature.json")
    if os.path.exists(path):
        with open(path) as f:
            if json.load(f) == signature:
                return
    shutil.rmtree(state_dir, ignore_errors=True)
    os.makedirs(state_dir)
    atomic_write_json(path, signature)


def train_member(config, inputs, train, dev, seed, strategy, state_dir, signature, verbose=None):
    """Train one model on `train` = (tokens, features, targets), choosing the
    epoch on `dev` = (tokens, features, targets, gold label lists).
    Returns (model, history dict, best epoch, dev probabilities).

    `state_dir` holds the BackupAndRestore checkpoint and the dev scores while
    training runs (kept for a resume only under the same `signature`) and is
    removed when training ends."""
    import keras

    if config.loss != "binary_crossentropy":
        raise config_lib.ConfigError(f"{config.config_path}: the 1213Li models train with "
                                     f"loss = \"binary_crossentropy\" (section 4.3), not {config.loss!r}")
    _prepare_state(state_dir, signature)
    keras.utils.set_random_seed(seed)
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    with strategy.scope():
        model = build_model(config, inputs)
        model.fusion.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                             loss=keras.losses.BinaryCrossentropy())
    x_train = model.fusion_inputs(train[0], train[1])
    x_dev = model.fusion_inputs(dev[0], dev[1])
    scores = _dev_scores_class()(x_dev, dev[3], config.protocol.get("threshold", 0.5), global_batch,
                                 state_dir, select_best=config.protocol.get("select_best_epoch", True))
    callbacks = [AtomicBackupAndRestore(os.path.join(state_dir, "backup"), delete_checkpoint=True),
                 scores]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    model.fusion.fit(x_train, train[2], batch_size=global_batch, epochs=config.epochs,
                     validation_data=(x_dev, dev[2]), shuffle=True, callbacks=callbacks, verbose=verbose)
    probabilities = model.fusion.predict(x_dev, batch_size=global_batch, verbose=0)
    shutil.rmtree(state_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(state_dir))  # the parent too, once no other run's state is in it
    return model, scores.state["history"], scores.state["best_epoch"], probabilities


# ------------------------------------------------------------------- records


def config_signature(config, data_dir):
    """What a finished run depends on: the config (less its descriptive keys)
    and the data folder."""
    keep = dataclasses.asdict(config)
    for key in ("paper_metrics", "notes", "config_path", "seeds", "logical_cpus", "system"):
        keep.pop(key)
    keep["protocol"] = {k: v for k, v in keep["protocol"].items() if k != "table"}
    keep["data_dir"] = os.path.abspath(data_dir)
    return keep


def _load_record(path, signature):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        record = json.load(f)
    return record if record.get("config") == signature else None


def _scores(gold, probabilities, threshold):
    from memotion_tf.evaluation.semeval21_task6 import probabilities_to_labels, score

    return score(gold, probabilities_to_labels(probabilities, threshold))


def export_model(model, path, config, inputs, metadata, check_frame, expected, check_memes=16):
    """Export `model` (raw text + image bytes -> 22 probabilities) and compare
    the SavedModel's outputs on the first raw memes of `check_frame` with the
    in-memory `expected` probabilities. Returns the largest difference."""
    import tensorflow as tf

    from memotion_tf.export import export_classifier, load_exported

    threshold = config.protocol.get("threshold", 0.5)
    export_classifier(model, path, class_names=TECHNIQUES, vectorizer=inputs.preprocessor,
                      image_size=config.image_size, multi_label=True, threshold=threshold,
                      metadata=metadata)
    frame = check_frame.head(check_memes)
    images = []
    for p in frame["image_path"]:
        with open(p, "rb") as f:
            images.append(f.read())
    serve, _, _ = load_exported(path)
    out = serve(text=tf.constant(frame["text"].astype(str).tolist()), image=tf.constant(images))
    diff = float(np.abs(out["probabilities"].numpy() - expected[:len(frame)]).max())
    if not diff < 1e-4:
        raise RuntimeError(f"{path}: the SavedModel's probabilities differ from the in-memory model's by {diff}")
    log.info("exported %s (SavedModel matches the in-memory model: max |diff| %.2e on %d raw memes)",
             path, diff, len(frame))
    return diff


def _metadata(config, seed, **extra):
    return {"paper": config.paper, "system": config.system, "dataset": config.dataset, "task": config.task,
            "preset": config.preset, "max_length": config.max_length, "seed": seed, **extra}


# ----------------------------------------------------------------------- rows


def run_ablation_row(config, inputs, data_dir, out_dir, strategy, seeds, verbose=None):
    """One Table 1 row: train on train, score dev. Returns (row, the first
    seed's model if it was trained now, else None)."""
    from memotion_tf.evaluation.metrics import summarize_runs
    from memotion_tf.evaluation.semeval21_task6 import probabilities_to_labels

    system_dir = os.path.join(out_dir, slug(config.system))
    saved_model = os.path.join(system_dir, "saved_model")
    signature = config_signature(config, data_dir)
    threshold = config.protocol.get("threshold", 0.5)
    dev = inputs.splits["dev"]
    runs, first_model = [], None
    for seed in seeds:
        record_path = os.path.join(system_dir, "runs", f"seed_{seed}.json")
        record = _load_record(record_path, signature)
        if record and (seed != seeds[0] or os.path.exists(saved_model)):
            log.info("%s seed %d: already finished, reusing %s", config.system, seed, record_path)
            runs.append(record)
            continue
        log.info("%s: training with seed %d (%d epochs)", config.system, seed, config.epochs)
        model, history, best_epoch, probabilities = train_member(
            config, inputs,
            train=(inputs.tokens["train"], inputs.features("train"), inputs.splits["train"].targets),
            dev=(inputs.tokens["dev"], inputs.features("dev"), dev.targets, dev.gold),
            seed=seed, strategy=strategy, state_dir=os.path.join(system_dir, "state", f"seed_{seed}"),
            signature=dict(signature, seed=seed), verbose=verbose)
        scores = _scores(dev.gold, probabilities, threshold)
        log.info("%s seed %d: dev micro F1 %.4f, macro F1 %.4f", config.system, seed,
                 scores["micro_f1"], scores["macro_f1"])
        record = {"seed": seed, "config": signature, "best_epoch": best_epoch,
                  "metrics": {m: scores[m] for m in METRICS}, "per_technique": scores["per_technique"],
                  "history": history, "dev_probabilities": probabilities.tolist()}
        if seed == seeds[0]:
            first_model = model
            record["export_check"] = export_model(
                model, saved_model, config, inputs,
                _metadata(config, seed, split="dev", threshold=threshold, best_epoch=best_epoch,
                          dev_metrics=record["metrics"]),
                dev.frame, probabilities)
        atomic_write_json(record_path, record)
        runs.append(record)

    first = runs[0]
    plot_history([r["history"] for r in runs], f"{config.system}: training curves",
                 os.path.join(system_dir, "training_curves.png"))
    predicted = probabilities_to_labels(np.asarray(first["dev_probabilities"]), threshold)
    plot_per_technique(first["per_technique"], dev.gold, predicted,
                       f"{config.system}: per-technique F1 on dev (seed {first['seed']})",
                       os.path.join(system_dir, "per_technique_f1.png"))
    return {
        "system": config.system,
        "table": config.protocol.get("table", TABLE1),
        "split": "dev",
        "config": config.config_path,
        "seeds": [r["seed"] for r in runs],
        "metrics": {m: summarize_runs([r["metrics"][m] for r in runs]) for m in METRICS},
        "paper": dict(config.paper_metrics),
        "saved_model": os.path.relpath(saved_model),
        "best_epochs": [r["best_epoch"] for r in runs],
        "export_check": first.get("export_check"),
        "threshold": threshold,
        "notes": config.notes,
    }, first_model


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


def run_ensemble_row(config, inputs, data_dir, out_dir, strategy, member0=None, verbose=None):
    """Table 2: train the members (reusing `member0`, the "+ full att" model of
    the official split, when given), average their test probabilities,
    threshold, write + check the official predictions file and score it."""
    from memotion_tf.evaluation.metrics import summarize_runs
    from memotion_tf.evaluation.semeval21_task6 import (
        check_predictions,
        probabilities_to_labels,
        score,
        write_predictions,
    )
    from memotion_tf.models.label_attention import average_ensemble

    system_dir = os.path.join(out_dir, slug(config.system))
    member_dir = os.path.join(system_dir, "members")
    saved_model = os.path.join(system_dir, "saved_model")
    threshold = config.protocol.get("threshold", 0.5)
    count = int(config.protocol.get("ensemble_size", 5))
    dev_size = int(config.protocol.get("resplit_dev_size", 64))
    train_split, dev_split, test = inputs.splits["train"], inputs.splits["dev"], inputs.splits["test"]
    splits = member_splits(len(train_split.frame), len(dev_split.frame), count, dev_size, config.split_seed)
    pool_ids = train_split.ids + dev_split.ids
    pool_gold = train_split.gold + dev_split.gold
    signature = config_signature(config, data_dir)

    # Once the ensemble's SavedModel is written (export.json, same signature),
    # the members' weight files are deleted: their records hold what the table needs.
    export_record = _load_record(os.path.join(system_dir, "export.json"), signature)
    found = [_load_record(os.path.join(member_dir, f"member_{k}.json"), dict(signature, member=k))
             for k in range(count)]
    exported = export_record is not None and os.path.exists(saved_model) and all(found)
    records, trained_now = [], False
    for k, (train_index, dev_index) in enumerate(splits):
        record_path = os.path.join(member_dir, f"member_{k}.json")
        weights_path = os.path.join(member_dir, f"member_{k}.weights.h5")
        record = found[k]
        if record and (exported or os.path.exists(weights_path)):
            log.info("%s member %d: already finished, reusing %s", config.system, k, record_path)
            records.append(record)
            continue
        if k == 0 and member0 is not None:
            log.info("%s member 0: the '+ full att' model of the official split", config.system)
            model, history, best_epoch = member0["model"], member0["history"], member0["best_epoch"]
        else:
            log.info("%s member %d: training (dev = %d memes)", config.system, k, len(dev_index))
            tokens, features, targets = inputs.pool(["train", "dev"])
            model, history, best_epoch, _ = train_member(
                config, inputs,
                train=(_select(tokens, train_index), features[train_index], targets[train_index]),
                dev=(_select(tokens, dev_index), features[dev_index], targets[dev_index],
                     [pool_gold[i] for i in dev_index]),
                seed=k, strategy=strategy, state_dir=os.path.join(member_dir, "state", f"member_{k}"),
                signature=dict(signature, member=k), verbose=verbose)
        x_test = model.fusion_inputs(inputs.tokens["test"], inputs.features("test"))
        test_probabilities = model.fusion.predict(x_test, batch_size=64, verbose=0)
        test_scores = score(test.gold, probabilities_to_labels(test_probabilities, threshold))
        with atomic_file(weights_path) as tmp:
            model.fusion.save_weights(tmp)
        record = {"member": k, "config": dict(signature, member=k), "seed": k, "best_epoch": best_epoch,
                  "dev_ids": [pool_ids[i] for i in dev_index], "history": history,
                  "test_metrics": {m: test_scores[m] for m in METRICS},
                  "test_probabilities": test_probabilities.tolist()}
        atomic_write_json(record_path, record)
        records.append(record)
        trained_now = True
        del model  # rebuilt from its weights file for the export: one model in memory at a time

    probabilities = np.mean([np.asarray(r["test_probabilities"]) for r in records], axis=0)
    predictions_path = os.path.join(system_dir, "predictions_test.json")
    write_predictions(predictions_path, test.ids, probabilities_to_labels(probabilities, threshold))
    checked = check_predictions(predictions_path, test.ids)  # the official format, read back
    scores = score(dict(zip(test.ids, test.gold)), checked)
    log.info("%s: test micro F1 %.4f, macro F1 %.4f (%d members averaged)", config.system,
             scores["micro_f1"], scores["macro_f1"], len(records))

    if trained_now or not exported:
        models = []
        with strategy.scope():
            for k in range(count):
                model = build_model(config, inputs)
                model.fusion.load_weights(os.path.join(member_dir, f"member_{k}.weights.h5"))
                models.append(model)
            ensemble = average_ensemble(models)
        export_check = export_model(
            ensemble, saved_model, config, inputs,
            _metadata(config, list(range(count)), split="test", threshold=threshold, members=count,
                      member_dev_ids=[r["dev_ids"] for r in records], test_metrics={m: scores[m] for m in METRICS}),
            test.frame, probabilities)
        atomic_write_json(os.path.join(system_dir, "export.json"), {"config": signature, "max_abs_diff": export_check})
        del models, ensemble
        for k in range(count):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(member_dir, f"member_{k}.weights.h5"))
    else:
        export_check = export_record["max_abs_diff"]

    plot_history([r["history"] for r in records], f"{config.system} ensemble members: training curves",
                 os.path.join(system_dir, "training_curves.png"), run_label="member")
    plot_per_technique(scores["per_technique"], test.gold, [checked[i] for i in test.ids],
                       f"{config.system} ensemble: per-technique F1 on test",
                       os.path.join(system_dir, "per_technique_f1.png"))
    return {
        "system": config.system,
        "table": config.protocol.get("table", TABLE2),
        "split": "test",
        "config": config.config_path,
        "seeds": [r["seed"] for r in records],
        "metrics": {m: summarize_runs([scores[m]]) for m in METRICS},
        "members": [{"member": r["member"], "best_epoch": r["best_epoch"], "dev_memes": len(r["dev_ids"]),
                     "test_metrics": r["test_metrics"]} for r in records],
        "member_test_metrics": {m: summarize_runs([r["test_metrics"][m] for r in records]) for m in METRICS},
        "paper": dict(config.paper_metrics),
        "saved_model": os.path.relpath(saved_model),
        "predictions": os.path.relpath(predictions_path),
        "export_check": export_check,
        "threshold": threshold,
        "notes": config.notes,
    }


# --------------------------------------------------------------- plots, tables


def plot_history(histories, title, path, run_label="run"):
    """BCE loss (train and dev) and dev micro/macro F1 per epoch, one colour per run."""
    from memotion_tf.evaluation.plots import plt, save_figure

    panels = [("loss", "BCE loss"), ("val_micro_f1", "dev micro F1"), ("val_macro_f1", "dev macro F1")]
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 3.6), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for i, history in enumerate(histories):
            values = history.get(key, [])
            epochs = range(1, len(values) + 1)
            ax.plot(epochs, values, color=f"C{i}", marker="o", ms=3,
                    label=f"{'train' if key == 'loss' else 'dev'} ({run_label} {i})")
            if key == "loss" and "val_loss" in history:
                ax.plot(range(1, len(history["val_loss"]) + 1), history["val_loss"], color=f"C{i}",
                        linestyle="--", marker="x", ms=4, label=f"dev ({run_label} {i})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
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
    return format_summary(summary, digits=4)  # the papers' tables give 4 decimals


def _paper(row, key):
    value = row["paper"].get(key)
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def results_markdown(results):
    """Table 1 (ablation, dev) and Table 2 (test, beside the leaderboard)."""
    lines = results_header(TITLE, results, f"subtask {results['task']}", "the SemEval-2021 Task 6 corpus")
    table1 = [r for r in results["rows"] if r.get("table") == TABLE1]
    table2 = [r for r in results["rows"] if r.get("table") == TABLE2]
    if table1:
        lines += ["", "## Table 1: ablation on the dev set", "",
                  "| Model | paper macro F1 | paper micro F1 | ours macro F1 | ours micro F1 | runs |",
                  "|---|---|---|---|---|---|"]
        for row in table1:
            lines.append(f"| {row['system']} | {_paper(row, 'dev_macro_f1')} | {_paper(row, 'dev_micro_f1')} | "
                         f"{_fmt(row['metrics']['macro_f1'])} | {_fmt(row['metrics']['micro_f1'])} | "
                         f"{len(row['seeds'])} |")
    if table2:
        lines += ["", "## Table 2: test set, the official leaderboard and ours", "",
                  "| Rank | Team | Macro F1 | Micro F1 |", "|---|---|---|---|"]
        for rank, team, macro, micro in results.get("leaderboard", LEADERBOARD):
            lines.append(f"| {rank} | {team} | {macro:.5f} | {micro:.5f} |")
        for row in table2:
            lines.append(f"| ours | {row['system']} reproduced (ensemble of {len(row['seeds'])}, "
                         f"threshold {row['threshold']}) | {_fmt(row['metrics']['macro_f1'])} | "
                         f"{_fmt(row['metrics']['micro_f1'])} |")
            member = row.get("member_test_metrics")
            if member:
                lines.append(f"| ours | single members (mean ± std [min, max]) | {_fmt(member['macro_f1'])} | "
                             f"{_fmt(member['micro_f1'])} |")
    lines += [""] + [f"- {note}" for note in NOTES]
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------- entry


def config_paths():
    return [os.path.join(CONFIG_DIR, c) for c in CONFIGS]


def load_configs(profile="quick", overrides=()):
    return [config_lib.load_config(p, profile, overrides) for p in config_paths()]


def reproduce(profile="quick", data_dir=None, out_dir=None, seeds=None, systems=None, overrides=(),
              verbose=None, logical_cpus=None, progress=True):
    """Run Table 1's rows and Table 2's ensemble; write results.json / results.md.

    Args:
        profile: "quick" or "paper" (see configs/1213li/base.toml).
        data_dir: the corpus folder holding the three split folders; None: the
            embedded synthetic corpus.
        out_dir: default runs/1213li.
        seeds: runs per Table 1 row (overrides the profile); the ensemble always
            has `protocol.ensemble_size` members.
        systems: only these rows, by the paper's names (e.g. ["+ full att", "1213Li"]).
        overrides: `key=value` strings applied to every row's config.
    """
    configs = load_configs(profile, overrides)
    configs = config_lib.select_systems(configs, systems, PAPER)
    if logical_cpus is not None:
        configs = [c.replace(logical_cpus=logical_cpus) for c in configs]
    return run_configs(configs, profile, data_dir, out_dir, seeds, verbose, progress)


def run_configs(configs, profile="quick", data_dir=None, out_dir=None, seeds=None, verbose=None, progress=True):
    """Train and score the given 1213Li configs (Table 1 rows and/or the
    ensemble, e.g. one file for `memotion-tf train --config`), then write
    results.json / results.md under `out_dir`."""
    from memotion_tf.training.strategy import get_strategy, single_machine

    out_dir = out_dir or os.path.join("runs", PAPER)
    strategy = single_machine(get_strategy(configs[0].logical_cpus), "1213Li")
    data_path, synthetic = ensure_corpus(configs[0], data_dir)
    splits = read_corpus(data_path, progress=progress, config=configs[0])
    inputs = Inputs(configs[0], splits)
    for config in configs:
        inputs.check(config)

    rows, member0 = [], None
    ensemble = [c for c in configs if c.protocol.get("table") == TABLE2]
    for config in configs:
        if config in ensemble:
            continue
        row_seeds = list(range(config.seeds if seeds is None else seeds))
        row, model = run_ablation_row(config, inputs, data_path, out_dir, strategy, row_seeds, verbose)
        rows.append(row)
        if model is not None and ensemble and row_seeds[0] == 0 and _same_training(config, ensemble[0]):
            record = _load_record(os.path.join(out_dir, slug(config.system), "runs", "seed_0.json"),
                                  config_signature(config, data_path))
            member0 = {"model": model, "history": record["history"], "best_epoch": record["best_epoch"]}
    for config in ensemble:
        rows.append(run_ensemble_row(config, inputs, data_path, out_dir, strategy, member0, verbose))

    first = configs[0]
    results = {"paper": PAPER, "dataset": first.dataset, "task": first.task, "synthetic": synthetic,
               "profile": profile, "rows": rows,
               "leaderboard": [{"rank": r, "team": t, "macro_f1": ma, "micro_f1": mi} for r, t, ma, mi in LEADERBOARD],
               "data": {name: {"memes": len(s.frame), "skipped_images": s.skipped} for name, s in splits.items()}}
    markdown = results_markdown(dict(results, leaderboard=LEADERBOARD))
    atomic_write_json(os.path.join(out_dir, "results.json"), results)
    atomic_write_text(os.path.join(out_dir, "results.md"), markdown)
    return results, markdown


def train_config(path, profile="quick", data_dir=None, out_dir=None, overrides=(), verbose=None):
    """One config file's row (`memotion-tf train --config configs/1213li/full_att.toml`)."""
    return run_configs([config_lib.load_config(path, profile, overrides)], profile, data_dir, out_dir,
                       verbose=verbose)


def _same_training(row_config, ensemble_config):
    """The ensemble's member 0 is the row's model when both train the same way."""
    a = config_signature(row_config, ".")
    b = config_signature(ensemble_config, ".")
    for sig in (a, b):
        sig["protocol"] = {k: v for k, v in sig["protocol"].items()
                           if k not in ("ensemble_size", "resplit_dev_size")}
    return a == b


def evaluate_saved_model(saved_model, data_dir, split="dev", batch_size=32):
    """Official micro/macro F1 of an exported 1213Li SavedModel on a split of
    the corpus, from the SavedModel alone (raw text and image bytes in), with
    the threshold stored in its metadata. Returns a report dict."""
    import tensorflow as tf

    from memotion_tf.datasets.common import check_images
    from memotion_tf.evaluation.semeval21_task6 import probabilities_to_labels, score
    from memotion_tf.export import load_exported

    serve, meta, _ = load_exported(saved_model)
    if not meta.get("multi_label") or list(meta.get("class_names", [])) != list(TECHNIQUES):
        raise config_lib.ConfigError(f"{saved_model}: not a SemEval-2021 Task 6 subtask-3 model")
    data = read_semeval21_task6(data_dir, split)
    frame, report = check_images(data.frame, progress=False)
    chunks = []
    for start in range(0, len(frame), batch_size):
        part = frame.iloc[start:start + batch_size]
        images = []
        for path in part["image_path"]:
            with open(path, "rb") as f:
                images.append(f.read())
        out = serve(text=tf.constant(part["text"].astype(str).tolist()), image=tf.constant(images))
        chunks.append(out["probabilities"].numpy())
    probabilities = np.concatenate(chunks) if chunks else np.zeros((0, len(TECHNIQUES)))
    scores = score([list(x) for x in frame["labels"]], probabilities_to_labels(probabilities, meta["threshold"]))
    return {"saved_model": saved_model, "system": meta.get("system"), "split": split, "examples": len(frame),
            "skipped_images": len(report.skipped), "threshold": meta["threshold"],
            "metrics": {m: scores[m] for m in METRICS}}
