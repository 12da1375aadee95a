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
from sklearn.model_selection import train_test_split

from memotion_tf import config as config_lib
from memotion_tf.datasets import memotion7k
from memotion_tf.datasets.common import check_images
from memotion_tf.io import atomic_write_json

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
}

READERS = {"memotion7k": memotion7k.read_memotion7k}
SYNTHESIZERS = {"memotion7k": memotion7k.write_synthetic_memotion7k}


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
    path = synthetic_dir(config.dataset, config.synthetic_size)
    if not os.path.exists(path):
        log.info("writing %d synthetic %s memes to %s", config.synthetic_size, config.dataset, path)
        SYNTHESIZERS[config.dataset](path, size=config.synthetic_size, seed=0)
    return path, True


@dataclasses.dataclass
class PreparedData:
    frame: object  # pandas DataFrame of usable rows
    class_names: tuple
    train_index: np.ndarray
    val_index: np.ndarray
    skip_report: object
    data_dir: str
    synthetic: bool

    def split(self, name):
        if name == "train":
            return self.frame.iloc[self.train_index].reset_index(drop=True)
        if name == "val":
            return self.frame.iloc[self.val_index].reset_index(drop=True)
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


def prepare_data(config, data_dir, synthetic=False, progress=True):
    """Read, validate and split once; all systems of a table share the result."""
    data = READERS[config.dataset](data_dir, task=config.task, text_field=config.text_field)
    log.info("read %d memes from %s", len(data.frame), data.labels_file)
    frame, report = check_images(data.frame, progress=progress)
    log.info(report.summary())
    train, val = split_indices(frame["label"].to_numpy(), config.val_fraction, config.split_seed)
    return PreparedData(frame, data.class_names, train, val, report, data_dir, synthetic)


def _config_signature(config):
    keep = dataclasses.asdict(config)
    for key in ("paper_metrics", "notes", "config_path", "seeds", "logical_cpus"):
        keep.pop(key)
    return keep


def slug(system):
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", system)


def train_once(config, data, seed, strategy, backup_dir=None, verbose=None):
    """One seeded run: returns (model, vectorizer, history dict, val probabilities)."""
    import keras

    from memotion_tf.input_pipeline import meme_dataset, token_dataset
    from memotion_tf.models import MODELS, build_model
    from memotion_tf.preprocessing.text import SequenceVectorizer
    from memotion_tf.resampling.gmm import gmm_oversample

    keras.utils.set_random_seed(seed)
    modalities = MODELS[config.model].modalities
    num_classes = len(data.class_names)
    train, val = data.split("train"), data.split("val")
    global_batch = config.batch_size * strategy.num_replicas_in_sync

    vectorizer = None
    if "text" in modalities:
        vectorizer = SequenceVectorizer(sequence_length=config.max_length)
        vectorizer.adapt(train["text"].astype(str))
    if config.gmm:
        if modalities != ("text",):
            raise ValueError(f"{config.system}: GMM oversampling applies to text-only models")
        sequences = vectorizer(np.asarray(train["text"].astype(str))).numpy()
        sequences, labels = gmm_oversample(
            sequences, train["label"].to_numpy(), vectorizer.vocabulary_size,
            n_components=config.gmm_components, covariance_type=config.gmm_covariance, seed=seed,
        )
        log.info("GMM oversampling: %s -> %s per class", np.bincount(train["label"]).tolist(),
                 np.bincount(labels).tolist())
        train_ds = token_dataset(sequences, labels, num_classes=num_classes,
                                 batch_size=global_batch, shuffle_seed=seed)
    else:
        train_ds = meme_dataset(train, modalities=modalities, batch_size=global_batch,
                                num_classes=num_classes, vectorizer=vectorizer,
                                image_size=config.image_size, shuffle_seed=seed)
    val_ds = meme_dataset(val, modalities=modalities, batch_size=global_batch,
                          num_classes=num_classes, vectorizer=vectorizer, image_size=config.image_size)

    with strategy.scope():
        model = build_model(
            config.model, num_classes=num_classes,
            vocabulary_size=vectorizer.vocabulary_size if vectorizer else None,
            sequence_length=config.max_length, image_size=config.image_size, **config.model_args,
        )
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
    callbacks = []
    if backup_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=True))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                        callbacks=callbacks, verbose=verbose, shuffle=False)
    probabilities = model.predict(val_ds.map(lambda x, y: x), verbose=0)
    return model, vectorizer, dict(history.history), probabilities


def run_system(config, data, out_dir, strategy, seeds=None, verbose=None):
    """Train `seeds` runs of one system, export the first, plot, and return its results row."""
    from memotion_tf.evaluation.metrics import classification_metrics, confusion, summarize_runs
    from memotion_tf.evaluation.plots import plot_confusion, plot_curves
    from memotion_tf.export import export_classifier

    seeds = list(range(config.seeds if seeds is None else seeds))
    system_dir = os.path.join(out_dir, slug(config.system))
    saved_model = os.path.join(system_dir, "saved_model")
    signature = _config_signature(config)
    y_val = data.split("val")["label"].to_numpy()
    num_classes = len(data.class_names)
    runs = []
    for seed in seeds:
        record_path = os.path.join(system_dir, "runs", f"seed_{seed}.json")
        if os.path.exists(record_path):
            with open(record_path) as f:
                record = json.load(f)
            if record.get("config") == signature and (seed != seeds[0] or os.path.exists(saved_model)):
                log.info("%s seed %d: already finished, reusing %s", config.system, seed, record_path)
                runs.append(record)
                continue
        log.info("%s: training run with seed %d (%d epochs)", config.system, seed, config.epochs)
        backup = os.path.join(system_dir, "backup", f"seed_{seed}")
        model, vectorizer, history, probabilities = train_once(
            config, data, seed, strategy, backup_dir=backup, verbose=verbose)
        predictions = probabilities.argmax(-1)
        metrics = classification_metrics(y_val, predictions, num_classes)
        log.info("%s seed %d: %s", config.system, seed,
                 ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if seed == seeds[0]:
            export_classifier(
                model, saved_model, class_names=data.class_names, vectorizer=vectorizer,
                image_size=config.image_size,
                metadata={
                    "paper": config.paper, "system": config.system, "dataset": config.dataset,
                    "task": config.task, "text_field": config.text_field,
                    "val_fraction": config.val_fraction, "split_seed": config.split_seed,
                    "seed": seed, "val_metrics": metrics,
                },
            )
            log.info("%s: exported SavedModel to %s", config.system, saved_model)
        record = {"seed": seed, "config": signature, "metrics": metrics, "history": history,
                  "val_predictions": predictions.tolist()}
        atomic_write_json(record_path, record)
        runs.append(record)

    first = runs[0]
    plot_confusion(
        confusion(y_val, np.asarray(first["val_predictions"]), num_classes), data.class_names,
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
    if systems:
        unknown = set(systems) - {c.system for c in configs}
        if unknown:
            raise config_lib.ConfigError(f"unknown system(s) {sorted(unknown)} for paper {paper!r}")
        configs = [c for c in configs if c.system in systems]
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
