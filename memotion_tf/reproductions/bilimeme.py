"""BiliMemeNet (Tu, Mao, Xue, Zhang): Bilibili bullet-chat category classification.

    data (raw table or processed split) -> jieba + stopwords -> labels, splits
      6 classes: linear baseline, Chinese BERT        -> accuracy
      5 main categories: 4 discrete prompts (zero-shot), prompt tuning -> Acc@1, Acc@3
    -> results.json / results.md; per system a SavedModel, a confusion matrix
       and (trained systems) training curves

Command: `python pipelines/bilimeme.py [--profile paper] [--data-dir D]`
(`make reproduce-bilimeme`); PROFILE=quick takes about 5 minutes of 2-core CPU
time with the embedded synthetic data.

Data. `detect_form` accepts either released form: the raw table (`danmu.csv`,
or the CSV path itself) or the processed 6-class split (`train.csv`,
`val.csv`, `test.csv`); with both present, `protocol.data_form = "auto"`
prefers the raw table, whose per-category frequencies give Acc@k its
ground-truth ranking. Every chat is segmented with jieba and stopwords
(stopwords-iso) are removed first, as the paper's section 4.1 does before
counting; the dataset's unit is that segmented chat (words joined by spaces).

- Raw table: chats are labelled by the paper's most-frequent-category rule at
  the 6-class level and at the 5-main-category level (`datasets.danmu`), and
  split into train/val/test by a hash of the segmented chat
  (`protocol.split_fractions`, default 0.72/0.08/0.2, the proportions of the
  released 108k/12k/30k split), so a chat falls in the same split at both
  levels and never in two splits.
- Processed split: the files' own train/val/test. The prompt experiments need
  main categories: labels 1-5 map to theirs (anime, game -> Animation;
  technology -> Knowledge; life, food -> Life); "general" chats are left out.
  The gold ranking is then one category per chat, so Acc@3 = Acc@1.

All metrics are on the test split; the validation split gives the validation
curves.

Serving. jieba cannot run inside a SavedModel, so every BiliMemeNet SavedModel
takes the *segmented* chat (`ChineseTokenizer(...)(text)`: jieba words with
stopwords removed, joined by spaces); its metadata says so
(`"text_input": "jieba"`), and `segment_texts` is the step a caller runs
first. BERT's WordPiece and the prompt template, GPT-2 tokeniser and LM run
inside the SavedModel (both also accept raw text, which then differs from
training only by the stopwords).
"""

import dataclasses
import functools
import hashlib
import json
import logging
import os

import numpy as np
import pandas as pd

from memotion_tf import config as config_lib
from memotion_tf.datasets import danmu
from memotion_tf.datasets.common import DataError
from memotion_tf.experiments import CONFIG_DIR, ROOT, config_signature, slug, synthetic_dir
from memotion_tf.evaluation.report import results_header, results_table, write_results
from memotion_tf.io import atomic_write_json, create_once

log = logging.getLogger("memotion_tf")

PAPER = "bilimeme"
DATASET = "danmu"
TITLE = ("BiliMemeNet (Tu, Mao, Xue, Zhang): Bilibili bullet-chat categories, "
         "sections 5, 6.2 (Table 2) and 6.3.2")
CONFIGS = [
    "bilimeme/linear_baseline.toml",
    "bilimeme/chinese_bert.toml",
    "bilimeme/prompt_1_question.toml",
    "bilimeme/prompt_2_text_classification.toml",
    "bilimeme/prompt_3_danmu_classification.toml",
    "bilimeme/prompt_4_internet_meme_classification.toml",
    "bilimeme/prompt_tuning.toml",
]
CLASSIFIERS = ("linear_baseline", "bert_classifier")
PROMPT_MODEL = "prompt_lm"
SPLITS = danmu.SPLITS
DATA_FORMS = ("auto", "raw", "processed")
TEXT_INPUT = "jieba"  # SavedModel metadata: the text input is jieba-segmented
PAPER_COLUMNS = [("accuracy", "paper accuracy"), ("acc_at_1", "paper Acc@1"), ("acc_at_3", "paper Acc@3")]
METRIC_COLUMNS = [("accuracy", "ours accuracy"), ("acc_at_1", "ours Acc@1"), ("acc_at_3", "ours Acc@3")]
NOTES = [
    "Accuracy: 6 classes (anime, game, technology, life, food, general), test split. "
    "Acc@1 / Acc@3: 5 main categories, the paper's definition (section 6.2.3): the predicted "
    "category counts when it is among the k highest-frequency ground-truth categories of the chat.",
    "The paper's linear-baseline figure (24.7%) is on its five largest categories; its conclusion "
    "calls the 6-class baseline 'almost the same as a random guess (16%)'. Its other 6-class "
    "fine-tuning results: Chinese RoBERTa 47.42% and a distilled Chinese GPT-2 47.74% (10 epochs), "
    "GPT-2 under 50% after 25 epochs.",
    "The paper prompts Pangu-alpha 2.6B, which has no Keras port; we use keras-hub's GPT-2 "
    "(PROFILE=paper: the `gpt2_base_en` preset; embedded default: a tiny randomly initialised "
    "GPT-2 with a byte-level vocabulary from the data, so its zero-shot numbers are chance-level "
    "by construction; its next-token distribution is nearly uniform, so prompt tuning cannot "
    "steer it far either).",
    "Table 2 of the paper as extracted prints a second, garbled pair of numbers for some prompts; "
    "we take the first (0.093/0.118, 0.131/0.143, 0.098/0.104, 0.145/0.158).",
]
DEFAULT_PROTOCOL = {
    "data_form": "auto",
    "split_fractions": [0.72, 0.08, 0.2],
    "stopwords": "stopwords-iso",
    "jieba_cache_dir": "",
    "split_seed": 0,
}


def config_files():
    return [os.path.join(CONFIG_DIR, c) for c in CONFIGS]


def load_configs(profile="quick", overrides=()):
    """Every row's config, in the table's order."""
    return [config_lib.load_config(p, profile, overrides) for p in config_files()]


def protocol(config):
    """The row's `protocol` table over the defaults, plus its `split_seed`."""
    return {**DEFAULT_PROTOCOL, **config.protocol, "split_seed": config.split_seed}


# --------------------------------------------------------------------------
# Data.
# --------------------------------------------------------------------------


@functools.lru_cache(None)
def chinese_tokenizer(cache_dir="", stopwords="stopwords-iso"):
    """The shared `ChineseTokenizer`; its jieba cache lives in `cache_dir`
    (default `data/cache/jieba` of the project, never the shared temp folder)."""
    import jieba

    from memotion_tf.preprocessing.chinese import ChineseTokenizer

    # jieba reports loading its dictionary at DEBUG level on its own handler.
    jieba.setLogLevel(logging.WARNING)
    return ChineseTokenizer(cache_dir or os.path.join(ROOT, "data", "cache", "jieba"), stopwords=stopwords)


def segment_texts(texts, cache_dir="", stopwords="stopwords-iso"):
    """Raw chats -> the SavedModels' text input (jieba words, stopwords removed)."""
    tokenizer = chinese_tokenizer(cache_dir, stopwords)
    return [tokenizer(t) for t in texts]


def detect_form(data_dir, preferred="auto"):
    """("raw", path of the table) or ("processed", folder) for a danmu data path."""
    if preferred not in DATA_FORMS:
        raise config_lib.ConfigError(f"protocol.data_form must be one of {DATA_FORMS}, not {preferred!r}")
    if os.path.isfile(data_dir):
        if preferred == "processed":
            raise DataError("data_form is 'processed' but this is a single file", file=data_dir)
        return "raw", data_dir
    if not os.path.isdir(data_dir):
        raise DataError("no such file or folder", file=data_dir)
    raw = os.path.join(data_dir, danmu.RAW_FILE)
    has_raw = os.path.isfile(raw)
    present = [s for s in SPLITS if os.path.isfile(os.path.join(data_dir, f"{s}.csv"))]
    has_processed = len(present) == len(SPLITS)
    if preferred in ("auto", "raw") and has_raw:
        return "raw", raw
    if preferred in ("auto", "processed") and has_processed:
        return "processed", data_dir
    if present and not has_processed:
        missing = [f"{s}.csv" for s in SPLITS if s not in present]
        raise DataError(f"the processed split is incomplete: missing {missing}", file=data_dir)
    wanted = {"auto": f"{danmu.RAW_FILE} (raw table) or train.csv, val.csv and test.csv (processed split)",
              "raw": danmu.RAW_FILE, "processed": "train.csv, val.csv and test.csv"}[preferred]
    raise DataError(f"expected {wanted} in this folder", file=data_dir)


def hash_split(texts, fractions, seed=0):
    """Split index (0 train, 1 val, 2 test) of each text, from a hash of the
    text: the same text always lands in the same split."""
    fractions = np.asarray(fractions, np.float64)
    if fractions.shape != (3,) or (fractions < 0).any() or fractions.sum() <= 0:
        raise config_lib.ConfigError(f"protocol.split_fractions must be 3 non-negative numbers, got {fractions}")
    edges = np.cumsum(fractions / fractions.sum())[:-1]
    u = np.array([int.from_bytes(hashlib.sha256(f"{seed}\x00{t}".encode("utf-8")).digest()[:8], "big")
                  for t in texts], np.float64) / 2.0 ** 64
    return np.searchsorted(edges, u, side="right")


# Main category of each 6-class label (general has none).
SIX_TO_MAIN = {
    i: danmu.MAIN_CATEGORIES.index(danmu.CATEGORY_TO_MAIN[source])
    for i, source in enumerate(danmu.SIX_CLASS_SOURCES)
}


@dataclasses.dataclass
class DanmuSplits:
    """Segmented chats per split at both label levels.

    six[split] / main[split]: frames with `text` (jieba words joined by
    spaces), `label` (0-based) and `row`; main_scores[split]: the [n, 5]
    ground-truth frequencies behind Acc@k.
    """

    form: str
    source: str
    synthetic: bool
    six: dict
    main: dict
    main_scores: dict
    summary: list

    def signature(self):
        return {"form": self.form, "source": os.path.abspath(self.source),
                "sizes": {level: {s: len(f) for s, f in frames.items()}
                          for level, frames in (("six", self.six), ("main", self.main))}}


def _check_sizes(splits, where):
    for level in ("six", "main"):
        for split in SPLITS:
            if len(splits[level][split]) == 0:
                raise DataError(f"no {level}-level chats left in the {split} split; the data set is too "
                                "small for a train/val/test split", file=where)


def prepare_danmu(data_dir, synthetic=False, settings=None):
    """Read either form, segment, label and split: a `DanmuSplits`."""
    settings = dict(DEFAULT_PROTOCOL, **(settings or {}))
    form, path = detect_form(data_dir, settings["data_form"])
    tokenizer = chinese_tokenizer(settings["jieba_cache_dir"], settings["stopwords"])
    normalize = functools.lru_cache(None)(tokenizer)  # chats repeat across rows
    summary = [f"{form} form: {path}"]
    six, main, scores = {}, {}, {}
    if form == "raw":
        by_level = {level: danmu.read_danmu_raw(path, level=level, normalize=normalize)
                    for level in ("six", "main")}
        for level, data in by_level.items():
            summary.append(f"{level}: {len(data.frame)} segmented chats, {data.dropped} left out "
                           "(emptied by segmentation" + (", or in none of the 5 picked categories)"
                                                          if level == "six" else ")"))
        fractions = settings["split_fractions"]
        for level, data in by_level.items():
            assignment = hash_split(data.frame["text"], fractions, settings["split_seed"])
            for k, split in enumerate(SPLITS):
                keep = assignment == k
                frame = data.frame[keep].reset_index(drop=True)
                if level == "six":
                    six[split] = frame
                else:
                    main[split] = frame
                    scores[split] = data.scores[keep].astype(np.float64)
    else:
        for split, data in danmu.read_danmu_processed(path).items():
            frame = data.frame.copy()
            frame["text"] = [normalize(t) for t in frame["text"]]
            emptied = frame["text"].str.strip() == ""
            frame = frame[~emptied].reset_index(drop=True)
            six[split] = frame
            mapped = frame["label"].map(SIX_TO_MAIN)
            kept = mapped.notna().to_numpy()
            main_frame = frame[kept].reset_index(drop=True)
            main_frame["label"] = mapped[kept].astype(np.int64).to_numpy()
            main[split] = main_frame
            scores[split] = np.eye(len(danmu.MAIN_CATEGORIES))[main_frame["label"].to_numpy()]
            summary.append(f"{split}.csv: {len(frame)} chats ({int(emptied.sum())} emptied by segmentation "
                           f"left out); {len(main_frame)} with a main category (general left out)")
    splits = DanmuSplits(form, path, synthetic, six, main, scores, summary)
    _check_sizes({"six": six, "main": main}, path)
    for level, frames, names in (("six", six, danmu.SIX_CLASSES), ("main", main, danmu.MAIN_CATEGORIES)):
        counts = np.bincount(frames["train"]["label"], minlength=len(names))
        summary.append(f"{level} train/val/test {[len(frames[s]) for s in SPLITS]}; train classes "
                       + ", ".join(f"{n} {c}" for n, c in zip(names, counts)))
    return splits


def ensure_danmu(config, data_dir=None):
    """The data path and whether it is synthetic; the embedded synthetic copy
    (both forms) is written once under `data/synthetic/`."""
    if data_dir:
        return data_dir, False

    def write(path):
        log.info("writing %d synthetic bullet chats to %s", config.synthetic_size, path)
        danmu.write_synthetic_danmu(path, size=config.synthetic_size, seed=0)

    return create_once(synthetic_dir(DATASET, config.synthetic_size), write), True


def check_danmu(data_dir, data_form="auto"):
    """What `memotion-tf data check --dataset danmu` prints: form and counts."""
    data = prepare_danmu(data_dir, settings={"data_form": data_form})
    return "\n".join(data.summary)


# --------------------------------------------------------------------------
# The 6-class systems: linear baseline and Chinese BERT.
# --------------------------------------------------------------------------


def _with_image_column(frame):
    # The shared text pipeline carries an image path column; chats have none.
    frame = frame.copy()
    frame["image_path"] = ""
    return frame


def build_classifier(config, train_texts):
    """(model factory, text preprocessor, optimizer factory) for a 6-class row."""
    import keras

    from memotion_tf.models.chinese_bert import chinese_bert_classifier, chinese_bert_preprocessor
    from memotion_tf.models.linear_baseline import LinearBaseline
    from memotion_tf.preprocessing.text import SequenceVectorizer
    from memotion_tf.preprocessing.vocabularies import word_piece_vocabulary

    settings = protocol(config)
    num_classes = len(danmu.SIX_CLASSES)
    texts = [str(t) for t in train_texts]
    if config.model == "linear_baseline":
        vectorizer = SequenceVectorizer(sequence_length=config.max_length,
                                        max_tokens=settings.get("max_tokens") or None)
        vectorizer.adapt(texts)

        def model():
            return LinearBaseline(vectorizer.vocabulary_size, sequence_length=config.max_length,
                                  num_classes=num_classes, **config.model_args)

        def optimizer():
            return keras.optimizers.Adam(config.learning_rate)

    elif config.model == "bert_classifier":
        vocabulary = None
        if not config.preset:
            vocabulary = word_piece_vocabulary(texts, settings.get("vocabulary_size", 8000))
        vectorizer = chinese_bert_preprocessor(config.preset, sequence_length=config.max_length,
                                               vocabulary=vocabulary)

        def model():
            return chinese_bert_classifier(num_classes, config.preset,
                                           vocabulary_size=len(vocabulary) if vocabulary else None,
                                           sequence_length=config.max_length, **config.model_args)

        def optimizer():
            opt = keras.optimizers.AdamW(config.learning_rate, weight_decay=settings.get("weight_decay", 0.01))
            opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
            return opt

    else:
        raise config_lib.ConfigError(f"{config.config_path}: model {config.model!r} is not a 6-class "
                                     f"BiliMemeNet model {CLASSIFIERS}")
    return model, vectorizer, optimizer


def train_classifier(config, data, seed, strategy, backup_dir=None, verbose=0):
    """One seeded 6-class run: (model, preprocessor, history, test probabilities)."""
    import keras

    from memotion_tf.input_pipeline import meme_dataset
    from memotion_tf.training import loop
    from memotion_tf.training.schedules import scaled_learning_rate

    keras.utils.set_random_seed(seed)
    config = config.replace(learning_rate=scaled_learning_rate(
        config.learning_rate, strategy.num_replicas_in_sync, config.lr_scaling))
    settings = protocol(config)
    num_classes = len(danmu.SIX_CLASSES)
    train, val, test = (_with_image_column(data.six[s]) for s in SPLITS)
    model_fn, vectorizer, optimizer_fn = build_classifier(config, train["text"])
    batch = config.batch_size * strategy.num_replicas_in_sync
    common = dict(modalities=("text",), batch_size=batch, vectorizer=vectorizer)
    train_ds = meme_dataset(train, num_classes=num_classes, shuffle_seed=seed, **common)
    steps = int(settings.get("steps_per_epoch", 0) or 0)
    if steps:
        # The paper's "2000 epochs, each time with a random mini batch".
        train_ds = train_ds.repeat()
    val_ds = meme_dataset(val, num_classes=num_classes, **common)
    test_ds = meme_dataset(test, **common)
    with strategy.scope():
        model = model_fn()
        model.compile(optimizer=optimizer_fn(), loss="categorical_crossentropy", metrics=["accuracy"])
    callbacks = []
    if backup_dir:
        from memotion_tf.training.backup import AtomicBackupAndRestore
        callbacks.append(AtomicBackupAndRestore(backup_dir, delete_checkpoint=True))
    history = loop.fit(model, train_ds, validation_data=val_ds, epochs=config.epochs,
                       steps_per_epoch=steps or None,
                       validation_freq=int(settings.get("validation_freq", 1)),
                       callbacks=callbacks, verbose=verbose, shuffle=False)
    probabilities = model.predict(test_ds, verbose=0)
    return model, vectorizer, dict(history.history), probabilities


# --------------------------------------------------------------------------
# The prompt systems: discrete prompts (zero-shot) and prompt tuning.
# --------------------------------------------------------------------------


def candidate_names():
    """The answers the prompts offer, in MAIN_CATEGORIES order (Table 2's choices)."""
    return [danmu.MAIN_CHINESE_NAMES[c] for c in danmu.MAIN_CATEGORIES]


@functools.lru_cache(maxsize=2)
def _data_tokenizer(texts):
    """One GPT-2 tokeniser per vocabulary source, shared by the prompt rows:
    its BPE cache then fills once, not once per row and seed."""
    from memotion_tf.preprocessing.vocabularies import gpt2_tokenizer_from_texts

    return gpt2_tokenizer_from_texts(texts)


def build_prompt_scorer(config, train_texts, vocabulary_texts=(), strategy=None):
    """A `PromptScorer` for a prompt row: a pretrained GPT-2 preset, or a tiny
    random GPT-2 whose byte-level vocabulary covers the training chats, the
    templates in `vocabulary_texts` and the candidate names."""
    import tensorflow as tf

    from memotion_tf.models.prompt_lm import PromptLM, PromptScorer, gpt2_backbone

    settings = protocol(config)
    template = settings.get("template")
    if not template:
        raise config_lib.ConfigError(f"{config.config_path}: a prompt row needs protocol.template")
    strategy = strategy or tf.distribute.get_strategy()
    if config.preset:
        import keras_hub

        tokenizer = keras_hub.models.GPT2Tokenizer.from_preset(config.preset)
    else:
        texts = ["".join(str(t).split()) for t in train_texts]
        tokenizer = _data_tokenizer(tuple(texts + list(vocabulary_texts) + [template] + candidate_names()))
    with strategy.scope():
        backbone = gpt2_backbone(config.preset, vocabulary_size=tokenizer.vocabulary_size(),
                                 **config.model_args)
        lm = PromptLM(backbone, num_prompt_tokens=int(settings.get("num_prompt_tokens", 0)),
                      initializer_stddev=float(settings.get("initializer_stddev", 0.02)))
    return PromptScorer(lm, tokenizer, template, candidate_names(), max_text_tokens=config.max_length,
                        score=settings.get("score", "sum"))


def run_prompt(config, data, seed, strategy, vocabulary_texts=(), backup_dir=None, verbose=0):
    """One seeded prompt run: (scorer, history, test log-likelihoods [n, 5])."""
    import keras

    from memotion_tf.training import loop
    from memotion_tf.training.schedules import scaled_learning_rate

    keras.utils.set_random_seed(seed)
    train, val, test = (data.main[s] for s in SPLITS)
    scorer = build_prompt_scorer(config, train["text"], vocabulary_texts, strategy)
    history = {}
    if scorer.lm.soft_prompt is not None:
        batch = config.batch_size * strategy.num_replicas_in_sync
        with strategy.scope():
            scorer.lm.compile(
                optimizer=keras.optimizers.Adam(scaled_learning_rate(
                    config.learning_rate, strategy.num_replicas_in_sync, config.lr_scaling)),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )
        callbacks = []
        if backup_dir:
            from memotion_tf.training.backup import AtomicBackupAndRestore
            callbacks.append(AtomicBackupAndRestore(backup_dir, delete_checkpoint=True))
        fit = loop.fit(
            scorer.lm, scorer.training_dataset(train["text"], train["label"], batch, shuffle_seed=seed),
            validation_data=scorer.training_dataset(val["text"], val["label"], batch),
            epochs=config.epochs, callbacks=callbacks, verbose=verbose, shuffle=False)
        history = dict(fit.history)
    scores = scorer.scores(test["text"], batch_size=int(protocol(config).get("eval_batch_size", 64)))
    return scorer, history, scores


def prompt_metrics(log_likelihoods, gold_scores):
    from memotion_tf.evaluation.topk import acc_at_k

    predictions = np.asarray(log_likelihoods).argmax(-1)
    return {"acc_at_1": acc_at_k(predictions, gold_scores, 1), "acc_at_3": acc_at_k(predictions, gold_scores, 3)}


# --------------------------------------------------------------------------
# One row: seeds, records, export, plots.
# --------------------------------------------------------------------------


def _fill_validation(history, every):
    """Validation series computed every `every` epochs (Keras' integer
    `validation_freq`: after epochs every, 2 * every, ...), stretched to one
    value per training epoch (the last one computed; NaN before the first)
    so they plot against the training series."""
    out = dict(history)
    epochs = len(history.get("loss", []))
    for key, values in history.items():
        if key.startswith("val_") and every > 1 and values:
            out[key] = [values[(e + 1) // every - 1] if (e + 1) >= every else float("nan")
                        for e in range(epochs)]
    return out


def _metadata(config, data, seed, metrics):
    return {
        "paper": config.paper, "system": config.system, "dataset": DATASET, "task": config.task,
        "text_field": "text", "text_input": TEXT_INPUT, "data_form": data.form,
        "split_fractions": protocol(config)["split_fractions"], "split_seed": config.split_seed,
        "stopwords": protocol(config)["stopwords"], "evaluation_split": "test",
        "seed": seed, "test_metrics": metrics,
    }


def run_row(config, data, out_dir, strategy, seeds=None, verbose=0, vocabulary_texts=()):
    """Train/score `seeds` runs of one row, export the first, plot, return its results row."""
    from memotion_tf.evaluation.metrics import classification_metrics, confusion, summarize_runs
    from memotion_tf.evaluation.plots import plot_confusion, plot_curves
    from memotion_tf.export import export_classifier
    from memotion_tf.models.prompt_lm import export_prompt_scorer

    prompt = config.model == PROMPT_MODEL
    if not prompt and config.model not in CLASSIFIERS:
        raise config_lib.ConfigError(f"{config.config_path}: unknown BiliMemeNet model {config.model!r}")
    seeds = list(range(config.seeds if seeds is None else seeds))
    system_dir = os.path.join(out_dir, slug(config.system))
    saved_model = os.path.join(system_dir, "saved_model")
    signature = {"config": config_signature(config), "data": data.signature()}
    if prompt:
        class_names, test = danmu.MAIN_CATEGORIES, data.main["test"]
    else:
        class_names, test = danmu.SIX_CLASSES, data.six["test"]
    y_test = test["label"].to_numpy()
    runs = []
    for seed in seeds:
        record_path = os.path.join(system_dir, "runs", f"seed_{seed}.json")
        if os.path.exists(record_path):
            with open(record_path, encoding="utf-8") as f:
                record = json.load(f)
            if record.get("signature") == signature and (seed != seeds[0] or os.path.exists(saved_model)):
                log.info("%s seed %d: already finished, reusing %s", config.system, seed, record_path)
                runs.append(record)
                continue
        log.info("%s: run with seed %d", config.system, seed)
        backup = os.path.join(system_dir, "backup", f"seed_{seed}")
        if prompt:
            scorer, history, scores = run_prompt(config, data, seed, strategy, vocabulary_texts, backup, verbose)
            metrics = prompt_metrics(scores, data.main_scores["test"])
        else:
            model, vectorizer, history, scores = train_classifier(config, data, seed, strategy, backup, verbose)
            metrics = classification_metrics(y_test, scores.argmax(-1), len(class_names))
        log.info("%s seed %d: %s", config.system, seed, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if seed == seeds[0]:
            metadata = _metadata(config, data, seed, metrics)
            if prompt:
                export_prompt_scorer(scorer, saved_model, class_names=class_names, metadata=metadata)
            else:
                export_classifier(model, saved_model, class_names=class_names, vectorizer=vectorizer,
                                  metadata=metadata)
            log.info("%s: exported SavedModel to %s", config.system, saved_model)
        record = {"seed": seed, "signature": signature, "metrics": metrics, "history": history,
                  "test_predictions": np.asarray(scores).argmax(-1).tolist()}
        atomic_write_json(record_path, record)
        runs.append(record)

    first = runs[0]
    truth = "top-1 gold main category" if prompt else "gold"
    plot_confusion(confusion(y_test, np.asarray(first["test_predictions"]), len(class_names)), class_names,
                   f"{config.system} (seed {first['seed']}, test; rows: {truth})",
                   os.path.join(system_dir, "confusion_matrix.png"), xticks_rotation=35)
    every = int(protocol(config).get("validation_freq", 1))
    histories = [_fill_validation(r["history"], every) for r in runs if r["history"]]
    if histories:
        plot_curves(histories, f"{config.system}: training curves", os.path.join(system_dir, "training_curves.png"))
    names = list(first["metrics"])
    return {
        "system": config.system,
        "config": config.config_path,
        "seeds": [r["seed"] for r in runs],
        "metrics": {m: summarize_runs([r["metrics"][m] for r in runs]) for m in names},
        "paper": dict(config.paper_metrics),
        "saved_model": os.path.relpath(saved_model),
        "level": "main" if prompt else "six",
        "classes": list(class_names),
        "notes": config.notes,
    }


# --------------------------------------------------------------------------
# The table.
# --------------------------------------------------------------------------


def results_markdown(results, notes=NOTES):
    lines = results_header(TITLE, results, f"({results['data_form']} form)", "Bilibili", items="bullet chats")
    lines.append("")
    lines.extend(results_table(results["rows"], PAPER_COLUMNS, METRIC_COLUMNS))
    lines.append("")
    lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines).rstrip() + "\n"


def prompt_templates(configs):
    """Every prompt row's template, in order and once each: they all go into the
    tiny GPT-2's vocabulary, so the prompt rows of a seed share one LM whichever
    rows are run."""
    templates = [protocol(c).get("template", "") for c in configs if c.model == PROMPT_MODEL]
    return list(dict.fromkeys(templates))


def reproduce(profile="quick", data_dir=None, out_dir=None, seeds=None, systems=None, overrides=(),
              verbose=None, logical_cpus=None):
    """Run BiliMemeNet's rows and write results.json / results.md under `out_dir`.

    Args:
        profile: "quick" (2-core CPU, embedded data) or "paper" (the paper's settings).
        data_dir: the raw table / its folder, or the processed split's folder;
            None writes and uses the embedded synthetic copy.
        out_dir: default `runs/bilimeme`.
        seeds: runs per row, overriding the profile.
        systems: only these rows (the paper's names, e.g. "Chinese BERT").
        overrides: `key=value` strings applied to every row's config.
        verbose: Keras fit verbosity (default: 1 on a terminal, else 2).
        logical_cpus: split the CPU into N devices for MirroredStrategy.

    Returns (results dict, markdown).
    """
    configs = load_configs(profile, overrides)
    templates = prompt_templates(configs)
    configs = config_lib.select_systems(configs, systems, PAPER)
    if logical_cpus is not None:
        configs = [c.replace(logical_cpus=logical_cpus) for c in configs]
    return run_configs(configs, profile, data_dir, out_dir, seeds, verbose, templates)


def run_configs(configs, profile="quick", data_dir=None, out_dir=None, seeds=None, verbose=None, templates=()):
    """Train and score the given rows on one prepared copy of the data, then
    write results.json / results.md under `out_dir` (default runs/bilimeme).
    `templates`: every prompt template that goes into the GPT-2 vocabulary."""
    import sys

    from memotion_tf.training.strategy import get_strategy

    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    out_dir = out_dir or os.path.join("runs", PAPER)
    strategy = get_strategy(configs[0].logical_cpus)
    data_path, synthetic = ensure_danmu(configs[0], data_dir)
    data = prepare_danmu(data_path, synthetic, protocol(configs[0]))
    for line in data.summary:
        log.info("%s", line)
    rows = [run_row(c, data, out_dir, strategy, seeds=seeds, verbose=verbose, vocabulary_texts=templates)
            for c in configs]
    results = {"paper": PAPER, "dataset": DATASET, "task": "six+main", "synthetic": synthetic,
               "profile": profile, "data_form": data.form, "evaluation_split": "test", "rows": rows}
    markdown = results_markdown(results)
    write_results(out_dir, results, markdown)
    return results, markdown


def train_config(path, profile="quick", data_dir=None, out_dir=None, overrides=(), verbose=None):
    """One config file's row (`memotion-tf train --config configs/bilimeme/linear.toml`).
    A prompt row's LM vocabulary holds every default row's template, so it is
    the LM `reproduce` builds."""
    config = config_lib.load_config(path, profile, overrides)
    templates = prompt_templates(load_configs(profile, overrides) + [config])
    return run_configs([config], profile, data_dir, out_dir, verbose=verbose, templates=templates)


# --------------------------------------------------------------------------
# From a SavedModel alone (what `memotion-tf evaluate` needs for danmu).
# --------------------------------------------------------------------------


def evaluate_saved_model(saved_model, data_dir, split="test", batch_size=64):
    """Metrics of an exported BiliMemeNet SavedModel on a split ("train", "val",
    "test" or "all") of `data_dir`, prepared as training prepared it (form,
    split and stopwords from the SavedModel's metadata). The chats are
    segmented here, as the SavedModel expects."""
    from memotion_tf.evaluation.metrics import classification_metrics
    from memotion_tf.export import load_exported

    serve, meta, _ = load_exported(saved_model)
    settings = {"data_form": meta.get("data_form", "auto"), "split_fractions": meta["split_fractions"],
                "split_seed": meta.get("split_seed", 0),
                "stopwords": meta.get("stopwords", DEFAULT_PROTOCOL["stopwords"])}
    data = prepare_danmu(data_dir, settings=settings)
    prompt = meta["class_names"] == list(danmu.MAIN_CATEGORIES)
    frames = data.main if prompt else data.six
    splits = list(SPLITS) if split == "all" else [split]
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS) + ['all']}")
    frame = pd.concat([frames[s] for s in splits], ignore_index=True)
    texts = frame["text"].astype(str).tolist()
    probabilities = []
    for start in range(0, len(texts), batch_size):
        chunk = np.asarray(texts[start:start + batch_size], dtype=object)
        out = serve(text=chunk, image=np.asarray([b""] * len(chunk), dtype=object))
        probabilities.append(out["probabilities"].numpy())
    probabilities = np.concatenate(probabilities)
    if prompt:
        gold = np.concatenate([data.main_scores[s] for s in splits])
        metrics = prompt_metrics(probabilities, gold)
    else:
        metrics = classification_metrics(frame["label"].to_numpy(), probabilities.argmax(-1),
                                         len(meta["class_names"]))
    return {"saved_model": saved_model, "system": meta.get("system"), "split": split,
            "examples": len(frame), "metrics": metrics}


def table_frame(results):
    """results.json rows as a DataFrame (for notebooks)."""
    rows = []
    for row in results["rows"]:
        entry = {"system": row["system"]}
        for key, _ in METRIC_COLUMNS:
            if key in row["metrics"]:
                entry[key] = row["metrics"][key]["mean"]
            if key in row["paper"]:
                entry[f"paper_{key}"] = row["paper"][key]
        rows.append(entry)
    return pd.DataFrame(rows)
