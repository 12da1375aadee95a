"""Named experiments and the one runner every reproduction uses.

    data (reader + image check + split) -> per seed: vectorise, [GMM], fit
    under a tf.distribute strategy, predict -> metrics -> export + plots.

A finished seed is recorded in `<out>/<system>/runs/seed_<k>.json`; running the
same command again skips finished seeds (for the same config) and resumes an
interrupted seed from its `BackupAndRestore` checkpoint.
"""

import dataclasses
import json
import logging
import os
import re
import sys

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from memotion_tf import config as config_lib
from memotion_tf.datasets import mami, memotion7k
from memotion_tf.datasets.common import check_images
from memotion_tf.io import atomic_write_json, create_once

log = logging.getLogger("memotion_tf")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(ROOT, "configs")

# Paper -> its table's rows (config files, in table order) and how to print it.
PAPERS = {
    "uor": {
        "title": "UoR at SemEval-2020 Task 8 (Liu et al., 2020), Table 1: Memotion task A",
        "configs": [
            "uor/lstm_t.toml", "uor/lstm_t_gmm.toml", "uor/conv1d_t.toml",
            "uor/conv1d_t_gmm.toml", "uor/cnn_i.toml", "uor/cnn_lstm_ti.toml",
        ],
        "paper_columns": [
            ("trial_macro_f1", "paper trial macro-F1 (avg)"),
            ("test_macro_f1", "paper test macro-F1"),
        ],
        "metric_columns": [("macro_f1", "ours macro-F1"), ("accuracy", "ours accuracy")],
        "notes": [
            "Ours: macro-F1 and accuracy on a stratified 20% hold-out of labels.csv "
            "(the paper used Keras' validation_split for model selection and reported the "
            "trial and test sets, which are not part of the 7k download).",
            "Conv1D-T's layers and the fusion head's width are not given in the paper; "
            "see the configs' `notes` for what we chose.",
        ],
    },
    "cnhit": {
        "title": "CN-HIT-MI.T at SemEval-2020 Task 8 (Li et al., 2020), Table 2: Memotion task A",
        "configs": [
            "cnhit/hfm.toml", "cnhit/tfnet.toml", "cnhit/tfnet_tsa.toml", "cnhit/resnet.toml",
            "cnhit/bert.toml", "cnhit/resnet_tsa_ra.toml", "cnhit/bert_tsa_kl.toml",
        ],
        "paper_columns": [
            ("dev_macro_f1", "paper Dev-F1"),
            ("test_macro_f1", "paper Test-F1"),
        ],
        "metric_columns": [("macro_f1", "ours macro-F1"), ("accuracy", "ours accuracy")],
        "notes": [
            "Ours: macro-F1 and accuracy on the dev fold(s) of a stratified 5-fold split of "
            "labels.csv (run i: fold i, seed i), with the raw text; the paper's Test-F1 is on the "
            "official test set, which is not part of the 7k download.",
            "Text rows train on cleaned text (section 4.2). Row names follow Table 2; "
            "`BERT+TSA+KL` is the paper's `BERT+TSA+KL+200`.",
        ],
    },
}

READERS = {"memotion7k": memotion7k.read_memotion7k, "mami": mami.read_mami}
SYNTHESIZERS = {"memotion7k": memotion7k.write_synthetic_memotion7k, "mami": mami.write_synthetic_mami}
# The text column each dataset's reader reads by default (`data check`).
TEXT_FIELDS = {"memotion7k": "text_corrected", "mami": mami.TEXT_COLUMN}


def setup_logging(level=logging.INFO):
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stdout)


def config_files(paper):
    return [os.path.join(CONFIG_DIR, c) for c in PAPERS[paper]["configs"]]


def synthetic_dir(dataset, size, seed=0):
    return os.path.join(ROOT, "data", "synthetic", f"{dataset}-n{size}-s{seed}")


def ensure_data(config, data_dir=None):
    """The dataset folder to read, and whether it is synthetic. Without
    `data_dir` the embedded synthetic copy is written on first use."""
    if data_dir:
        return data_dir, False

    def write(path):
        log.info("writing %d synthetic %s memes to %s", config.synthetic_size, config.dataset, path)
        SYNTHESIZERS[config.dataset](path, size=config.synthetic_size, seed=0)

    return create_once(synthetic_dir(config.dataset, config.synthetic_size), write), True


@dataclasses.dataclass
class PreparedData:
    frame: object  # pandas DataFrame of usable rows
    class_names: tuple
    folds: list  # [(train_index, val_index)]: one hold-out split, or k folds
    skip_report: object
    data_dir: str
    synthetic: bool

    def split(self, name, fold=0):
        train_index, val_index = self.folds[fold]
        if name == "train":
            return self.frame.iloc[train_index].reset_index(drop=True)
        if name == "val":
            return self.frame.iloc[val_index].reset_index(drop=True)
        if name == "all":
            return self.frame
        raise ValueError(f"unknown split {name!r}; expected train, val or all")


def split_indices(labels, val_fraction, split_seed):
    """Stratified hold-out split, fixed by `split_seed` for every run and system."""
    index = np.arange(len(labels))
    train, val = train_test_split(
        index, test_size=val_fraction, random_state=split_seed, stratify=labels
    )
    return np.sort(train), np.sort(val)


def fold_indices(labels, folds, split_seed):
    """Stratified k-fold splits (CN-HIT-MI.T: 5 folds, 4:1), fixed by `split_seed`."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=split_seed)
    return [(np.sort(t), np.sort(v)) for t, v in splitter.split(np.zeros(len(labels)), labels)]


DATA_SOURCES = ("files", "tfds")


def read_records(config, data_dir, reader, split=None, **reader_args):
    """`reader(data_dir, [split=split,] **reader_args)` for `config.dataset`:
    from the files, or, with `data_source = "tfds"`, through the dataset's TFDS
    builder (prepared from `data_dir` on first use), which gives the same
    records in the reader's own object."""
    if config.data_source == "tfds":
        from memotion_tf.datasets.tfds_builders import read_from_tfds

        return read_from_tfds(config.dataset, data_dir, split or "train",
                              tfds_data_dir=config.tfds_data_dir or None, **reader_args)
    if config.data_source != "files":
        raise config_lib.ConfigError(f"{config.config_path}: unknown data_source {config.data_source!r}; "
                                     f"expected one of {DATA_SOURCES}")
    return reader(data_dir, **reader_args) if split is None else reader(data_dir, split=split, **reader_args)


def read_dataset(config, data_dir):
    """The single-label reader's records of `config.dataset` (see `read_records`)."""
    return read_records(config, data_dir, READERS[config.dataset], task=config.task, text_field=config.text_field)


def prepare_data(config, data_dir, synthetic=False, progress=True):
    """Read, validate and split once; all systems of a table share the result."""
    data = read_dataset(config, data_dir)
    log.info("read %d memes from %s", len(data.frame), data.labels_file)
    frame, report = check_images(data.frame, progress=progress)
    log.info(report.summary())
    labels = frame["label"].to_numpy()
    if config.folds > 1:
        folds = fold_indices(labels, config.folds, config.split_seed)
        log.info("%d-fold split: %d / %d memes in fold 0", config.folds, len(folds[0][0]), len(folds[0][1]))
    else:
        folds = [split_indices(labels, config.val_fraction, config.split_seed)]
    return PreparedData(frame, data.class_names, folds, report, data_dir, synthetic)


def config_signature(config):
    keep = dataclasses.asdict(config)
    # Where the records come from does not change them (tests/test_tfds_builders.py).
    for key in ("paper_metrics", "notes", "config_path", "seeds", "logical_cpus", "data_source", "tfds_data_dir"):
        keep.pop(key)
    return keep


def slug(system):
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", system)


def text_preprocessing(config, model_class, train_texts):
    """The text preprocessing a model class needs: a keras-hub preprocessor for
    BERT-style models (from `config.preset`), else a `SequenceVectorizer`
    adapted on the training texts."""
    from memotion_tf.models import uses_wordpiece
    from memotion_tf.models.pretrained import text_preprocessor
    from memotion_tf.preprocessing.text import SequenceVectorizer

    if "text" not in model_class.modalities:
        return None
    if uses_wordpiece(model_class):
        return text_preprocessor(config.preset, sequence_length=config.max_length)
    vectorizer = SequenceVectorizer(sequence_length=config.max_length)
    vectorizer.adapt(train_texts)
    return vectorizer


def make_model(config, num_classes, vectorizer):
    """Build the config's model; call inside the strategy's scope."""
    from memotion_tf.models import MODELS, build_model, uses_image_backbone, uses_wordpiece
    from memotion_tf.models.pretrained import text_backbone

    cls = MODELS[config.model]
    model_args = dict(config.model_args)
    backbone_args = model_args.pop("backbone", {})
    extra = {}
    if uses_wordpiece(cls):
        extra["backbone"] = text_backbone(
            config.preset, vocabulary_size=vectorizer.tokenizer.vocabulary_size(), **backbone_args)
    elif vectorizer is not None:
        extra["vocabulary_size"] = vectorizer.vocabulary_size
    if uses_image_backbone(cls):
        extra["weights"] = config.image_weights or None
    return build_model(config.model, num_classes=num_classes, sequence_length=config.max_length,
                       image_size=config.image_size, **extra, **model_args)


LOSSES = ("categorical_crossentropy", "tsa", "clean_raw_kl")
AUGMENTATIONS = ("", "randaugment")


def _augmentation(config):
    if config.augment == "":
        return None
    if config.augment == "randaugment":
        from memotion_tf.preprocessing.randaugment import rand_augment

        args = dict(config.augment_args)
        return lambda images, seed: rand_augment(images, seed, **args)
    raise config_lib.ConfigError(f"{config.config_path}: unknown augment {config.augment!r}; "
                                 f"expected one of {AUGMENTATIONS}")


def train_once(config, data, seed, strategy, fold=0, backup_dir=None, verbose=None):
    """One seeded run on one fold: returns (model, vectorizer, history dict, val probabilities).

    The loss (`config.loss`): categorical cross-entropy; `tsa`, the same with
    Training Signal Annealing; or `clean_raw_kl`, equation 5 of CN-HIT-MI.T
    on a two-view wrapper of the model (cleaned and raw text in one step).
    With `text_cleaning`, training sees cleaned text; validation always sees
    the raw text, as the test set and the exported model do.
    """
    import keras

    from memotion_tf.input_pipeline import meme_dataset, token_dataset
    from memotion_tf.losses.consistency import CleanRawKLLoss
    from memotion_tf.losses.tsa import TSALoss, TSAProgress
    from memotion_tf.models import MODELS
    from memotion_tf.preprocessing.cleaning import clean_meme_text
    from memotion_tf.resampling.gmm import gmm_oversample
    from memotion_tf.training import loop
    from memotion_tf.training.schedules import learning_rate, scaled_learning_rate
    from memotion_tf.training.two_view import clean_view_accuracy, two_view_model

    if config.loss not in LOSSES:
        raise config_lib.ConfigError(f"{config.config_path}: unknown loss {config.loss!r}; expected one of {LOSSES}")
    keras.utils.set_random_seed(seed)
    model_class = MODELS[config.model]
    modalities = model_class.modalities
    num_classes = len(data.class_names)
    train, val = data.split("train", fold), data.split("val", fold)
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    two_views = config.loss == "clean_raw_kl"
    if config.text_cleaning or two_views:
        train = train.assign(text_raw=train["text"], text=train["text"].astype(str).map(clean_meme_text))
        changed = int((train["text"] != train["text_raw"].astype(str)).sum())
        log.info("text cleaning changed %d of %d training texts", changed, len(train))

    vectorizer = text_preprocessing(config, model_class, train["text"].astype(str))
    pipeline = dict(modalities=modalities, batch_size=global_batch, num_classes=num_classes,
                    vectorizer=vectorizer, image_size=config.image_size)
    if config.gmm:
        if modalities != ("text",) or vectorizer is None or not hasattr(vectorizer, "vocabulary_size"):
            raise ValueError(f"{config.system}: GMM oversampling applies to text-only token-sequence models")
        sequences = vectorizer(np.asarray(train["text"].astype(str))).numpy()
        sequences, labels = gmm_oversample(
            sequences, train["label"].to_numpy(), vectorizer.vocabulary_size,
            n_components=config.gmm_components, covariance_type=config.gmm_covariance, seed=seed,
        )
        log.info("GMM oversampling: %s -> %s per class", np.bincount(train["label"]).tolist(),
                 np.bincount(labels).tolist())

    def train_data(rows=slice(None), batch_size=global_batch):
        # `rows`: one worker's share under MultiWorkerMirroredStrategy (loop.per_worker).
        if config.gmm:
            return token_dataset(sequences[rows], labels[rows], num_classes=num_classes,
                                 batch_size=batch_size, shuffle_seed=seed)
        return meme_dataset(train.iloc[rows], **dict(pipeline, batch_size=batch_size), shuffle_seed=seed,
                            augment=_augmentation(config), augment_seed=seed,
                            raw_text_column="text_raw" if two_views else None)

    train_ds = train_data()
    # Validation: raw text (both views of a two-view model get the raw text).
    val_ds = meme_dataset(val, **pipeline, raw_text_column="text" if two_views else None)
    steps_per_epoch = int(train_ds.cardinality())
    total_steps = steps_per_epoch * config.epochs

    with strategy.scope():
        model = make_model(config, num_classes, vectorizer)
        optimizer = keras.optimizers.Adam(learning_rate(
            config.lr_schedule, scaled_learning_rate(config.learning_rate, strategy.num_replicas_in_sync,
                                                     config.lr_scaling),
            total_steps, config.warmup_fraction))
        if two_views:
            trainer = two_view_model(model)
            loss = CleanRawKLLoss(**config.loss_args)
            metrics = [clean_view_accuracy(num_classes)]
        else:
            trainer = model
            loss = TSALoss(**config.loss_args) if config.loss == "tsa" else config.loss
            metrics = ["accuracy"]
        trainer.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    callbacks = []
    if backup_dir:
        from memotion_tf.training.backup import AtomicBackupAndRestore
        callbacks.append(AtomicBackupAndRestore(backup_dir, delete_checkpoint=True))
    if getattr(loss, "anneal", isinstance(loss, TSALoss)):
        callbacks.append(TSAProgress(total_steps=total_steps))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    # model.fit, or under MultiWorkerMirroredStrategy the same contract with each worker reading its rows.
    history = loop.fit(trainer, train_ds, dataset_fn=loop.per_worker(train_data, global_batch),
                       validation_data=val_ds, epochs=config.epochs, callbacks=callbacks, verbose=verbose,
                       shuffle=False)
    # The two-view validation set carries a second text view that the classifier alone does not take.
    eval_ds = meme_dataset(val, **pipeline) if two_views else val_ds
    probabilities = model.predict(eval_ds.map(lambda x, y: x), verbose=0)
    return model, vectorizer, dict(history.history), probabilities


def run_system(config, data, out_dir, strategy, seeds=None, verbose=None):
    """Train `seeds` runs of one system, export the first, plot, and return its results row.

    With k folds, run i trains on fold i mod k with seed i."""
    from memotion_tf.evaluation.metrics import classification_metrics, confusion, summarize_runs
    from memotion_tf.evaluation.plots import plot_confusion, plot_curves
    from memotion_tf.export import export_classifier, model_modalities

    seeds = list(range(config.seeds if seeds is None else seeds))
    system_dir = os.path.join(out_dir, slug(config.system))
    saved_model = os.path.join(system_dir, "saved_model")
    signature = config_signature(config)
    num_classes = len(data.class_names)
    runs = []
    for seed in seeds:
        fold = seed % len(data.folds)
        record_path = os.path.join(system_dir, "runs", f"seed_{seed}.json")
        if os.path.exists(record_path):
            with open(record_path) as f:
                record = json.load(f)
            if record.get("config") == signature and (seed != seeds[0] or os.path.exists(saved_model)):
                log.info("%s seed %d: already finished, reusing %s", config.system, seed, record_path)
                runs.append(record)
                continue
        log.info("%s: training run with seed %d on fold %d (%d epochs)", config.system, seed, fold,
                 config.epochs)
        backup = os.path.join(system_dir, "backup", f"seed_{seed}")
        model, vectorizer, history, probabilities = train_once(
            config, data, seed, strategy, fold=fold, backup_dir=backup, verbose=verbose)
        predictions = probabilities.argmax(-1)
        y_val = data.split("val", fold)["label"].to_numpy()
        metrics = classification_metrics(y_val, predictions, num_classes)
        log.info("%s seed %d: %s", config.system, seed,
                 ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if seed == seeds[0]:
            export_classifier(
                model, saved_model, class_names=data.class_names, vectorizer=vectorizer,
                image_size=config.image_size if "image" in model_modalities(model) else None,
                metadata={
                    "paper": config.paper, "system": config.system, "dataset": config.dataset,
                    "task": config.task, "text_field": config.text_field,
                    "val_fraction": config.val_fraction, "split_seed": config.split_seed,
                    "folds": config.folds, "fold": fold, "seed": seed, "val_metrics": metrics,
                },
            )
            log.info("%s: exported SavedModel to %s", config.system, saved_model)
        record = {"seed": seed, "fold": fold, "config": signature, "metrics": metrics,
                  "history": history, "val_predictions": predictions.tolist()}
        atomic_write_json(record_path, record)
        runs.append(record)

    first = runs[0]
    y_first = data.split("val", first.get("fold", 0))["label"].to_numpy()
    plot_confusion(
        confusion(y_first, np.asarray(first["val_predictions"]), num_classes), data.class_names,
        f"{config.system} (seed {first['seed']}, validation)",
        os.path.join(system_dir, "confusion_matrix.png"),
    )
    plot_curves([r["history"] for r in runs], f"{config.system}: training curves",
                os.path.join(system_dir, "training_curves.png"))
    metric_names = list(first["metrics"])
    return {
        "system": config.system,
        "config": config.config_path,
        "seeds": [r["seed"] for r in runs],
        "folds": [r.get("fold", 0) for r in runs],
        "metrics": {m: summarize_runs([r["metrics"][m] for r in runs]) for m in metric_names},
        "paper": dict(config.paper_metrics),
        "saved_model": os.path.relpath(saved_model),
        "notes": config.notes,
    }


def results_document(paper, configs, rows, synthetic, profile):
    first = configs[0]
    return {"paper": paper, "dataset": first.dataset, "task": first.task, "synthetic": synthetic,
            "profile": profile, "rows": rows}


def reproduce(paper, profile="quick", data_dir=None, out_dir=None, seeds=None, systems=None,
              logical_cpus=None, overrides=(), verbose=None):
    """Run every row of a paper's table and write results.json / results.md.

    `overrides` are `key=value` strings applied to every row's config."""
    from memotion_tf.evaluation.report import results_markdown, write_results
    from memotion_tf.training.strategy import get_strategy

    spec = PAPERS[paper]
    configs = [config_lib.load_config(p, profile, overrides) for p in config_files(paper)]
    configs = config_lib.select_systems(configs, systems, paper)
    if logical_cpus is not None:
        configs = [c.replace(logical_cpus=logical_cpus) for c in configs]
    out_dir = out_dir or os.path.join("runs", paper)
    strategy = get_strategy(configs[0].logical_cpus)
    data_path, synthetic = ensure_data(configs[0], data_dir)
    data = prepare_data(configs[0], data_path, synthetic)
    rows = [run_system(c, data, out_dir, strategy, seeds=seeds, verbose=verbose) for c in configs]
    results = results_document(paper, configs, rows, synthetic, profile)
    markdown = results_markdown(results, spec["paper_columns"], spec["metric_columns"],
                                spec["title"], spec["notes"])
    write_results(out_dir, results, markdown)
    return results, markdown


def pipeline_main(paper, description, argv=None, run=None, data_dir_help=None, where=None):
    """The command line of `pipelines/<paper>.py` (and `make reproduce-<paper>`).

    `run` is the paper's `reproduce(profile=, data_dir=, out_dir=, seeds=, systems=,
    overrides=, logical_cpus=)`; by default the shared runner's for `paper`. `where`
    says what else is written where, for the closing line. Returns the exit status:
    2 for a data or config error (logged without a traceback)."""
    import argparse
    import functools

    from memotion_tf.training import cluster

    run = run or functools.partial(reproduce, paper)
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", default="quick", choices=list(config_lib.PROFILES))
    parser.add_argument("--data-dir", help=data_dir_help or
                        "dataset folder in its official layout; default: embedded synthetic data")
    parser.add_argument("--out", default=os.path.join("runs", paper))
    parser.add_argument("--seeds", type=int, help="runs per system (overrides the profile)")
    parser.add_argument("--systems", nargs="*", help="only these rows, by their Table names")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key for every row, e.g. --set epochs=3")
    parser.add_argument("--logical-cpus", type=int, help="split the CPU into N devices for MirroredStrategy")
    cluster.add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging()
    from memotion_tf.datasets.common import DataError

    try:
        cluster.setup(args.workers, args.worker_index, args.out)  # before TensorFlow starts
        _, markdown = run(profile=args.profile, data_dir=args.data_dir, out_dir=args.out, seeds=args.seeds,
                          systems=args.systems, logical_cpus=args.logical_cpus, overrides=args.set)
    except (DataError, config_lib.ConfigError) as e:  # names the file, row and field: no traceback needed
        log.error("%s", e)
        return 2
    print()
    print(markdown)
    print(f"results: {os.path.join(args.out, 'results.json')} and results.md; "
          f"{(where or 'plots and SavedModels under <out>/<system>/').replace('<out>', args.out)}")
    return 0
