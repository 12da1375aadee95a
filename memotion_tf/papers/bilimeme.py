"""BiliMemeNet: Using NLP to Learn Chinese Meme From Bullet Chat. Tu, Mao, Xue,
Zhang (UMass Amherst; code and data: GitHub h-tu/bilimemenet). Bilibili
bullet-chat (danmu) categories: sections 5, 6.2 (Table 2) and 6.3.2.

    data (raw table or processed split) -> jieba + stopwords -> labels, splits
      6 classes: linear baseline, Chinese BERT -> accuracy
      5 main categories: 4 discrete prompts (zero-shot), prompt tuning -> Acc@1, Acc@3
    -> (runner) results.json / results.md; per row a SavedModel, a confusion
       matrix and (trained rows) training curves and TensorBoard logs

Where everything is:
- data: `datasets/danmu.py` (readers, labelling rule, synthetic writer); form
  detection, segmentation and the split here (`prepare_danmu`); jieba and
  stopwords: `preprocessing/chinese.py`
- models: `models/linear_baseline.py`, `models/chinese_bert.py`,
  `models/prompt_lm.py` (prompt LM, soft prompt, candidate scoring)
- metrics: `evaluation/topk.py` (the paper's Acc@k)
- configs: `configs/bilimeme/`; pipeline: `pipelines/bilimeme.py`;
  notebook: `notebooks/bilimeme.ipynb`

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
  levels and never in two splits. Raw chats that segmentation empties are no
  chat at all here (reported in the data summary).
- Processed split: the files' own train/val/test, every row kept. A chat that
  segmentation empties (its words are all stopwords or punctuation) stays, as
  the empty text: the model's prediction for the empty input is its
  prediction, so every row of the paper's test split is scored. The prompt
  experiments need main categories: labels 1-5 map to theirs (anime, game ->
  Animation; technology -> Knowledge; life, food -> Life); "general" chats
  have none and are not part of the prompt rows' test set. The gold ranking
  is then one category per chat, so Acc@3 = Acc@1.

All metrics are on the test split; the validation split gives the curves and
picks the epoch the trained rows keep (`BestEpoch`).

Serving. jieba cannot run inside a SavedModel, so every BiliMemeNet SavedModel
takes the *segmented* chat (`segment_texts`: jieba words with stopwords
removed, joined by spaces); its metadata says so (`"text_input": "jieba"`).
BERT's WordPiece and the prompt template, tokeniser and LM run inside the
SavedModel.
"""

import dataclasses
import functools
import hashlib
import logging
import os

import numpy as np
import pandas as pd

from memotion_tf import config as config_lib
from memotion_tf import paths
from memotion_tf.datasets import danmu
from memotion_tf.datasets.common import DataError
from memotion_tf.papers.base import Paper, Run, check_keys, constructor_arguments

log = logging.getLogger("memotion_tf")

CLASSIFIERS = ("linear_baseline", "bert_classifier")
PROMPT_MODEL = "prompt_lm"
SPLITS = danmu.SPLITS
DATA_FORMS = ("auto", "raw", "processed")
TEXT_INPUT = "jieba"  # SavedModel metadata: the text input is jieba-segmented
DATA_KEYS = ("data_form", "split_fractions", "stopwords", "jieba_cache_dir")  # shared by every row
DEFAULT_PROTOCOL = {
    "data_form": "auto",
    "split_fractions": [0.72, 0.08, 0.2],
    "stopwords": "stopwords-iso",
    "jieba_cache_dir": "",
}
PROTOCOL_KEYS = {
    "data_form": "auto | raw | processed: which released form to read",
    "split_fractions": "train/val/test shares of the raw table's hash split",
    "stopwords": "stopword list removed after jieba (stopwords-iso, or a file)",
    "jieba_cache_dir": "jieba's dictionary cache (empty: <user cache>/jieba)",
    "steps_per_epoch": "batches per epoch (0: whole passes); bounds training to epochs x steps random batches",
    "validation_freq": "validate every this many epochs",
    "best_epoch_metric": "validation log kept at its best (val_accuracy: highest; a *loss: lowest)",
    "eval_batch_size": "batch size of validation, test and scoring passes",
    "max_tokens": "linear baseline: vocabulary cap (0: every training word)",
    "weight_decay": "Chinese BERT: AdamW weight decay",
    "vocabulary_size": "Chinese BERT without a preset: WordPiece vocabulary computed from the data",
    "template": "prompt with one [A] where the chat goes",
    "num_prompt_tokens": "prompt tuning: soft-prompt length (0: zero-shot)",
    "initializer_stddev": "prompt tuning: the soft prompt's initial scale",
    "score": "how candidates are ranked: mean (per-token log-likelihood) or sum",
    "lm_min_count": "tiny LM (no preset): a character has its own token when the data holds it this often "
                    "(rarer ones are spelled in bytes)",
}


def protocol(config):
    """The row's `protocol` table over the data defaults."""
    return {**DEFAULT_PROTOCOL, **config.protocol}


# --------------------------------------------------------------------------
# Data.
# --------------------------------------------------------------------------


def jieba_cache_dir(configured=""):
    """Where jieba keeps its dictionary cache: the configured folder, else
    `<memotion-tf user cache>/jieba` (never the shared temporary folder, never
    inside the package)."""
    return configured or os.path.join(paths.home(), "jieba")


@functools.lru_cache(None)
def chinese_tokenizer(cache_dir="", stopwords="stopwords-iso"):
    """The shared `ChineseTokenizer` (see `jieba_cache_dir` for its cache)."""
    import jieba

    from memotion_tf.preprocessing.chinese import ChineseTokenizer

    # jieba reports loading its dictionary at DEBUG level on its own handler.
    jieba.setLogLevel(logging.WARNING)
    return ChineseTokenizer(jieba_cache_dir(cache_dir), stopwords=stopwords)


def segment_texts(texts, cache_dir="", stopwords="stopwords-iso"):
    """Raw chats -> the SavedModels' text input (jieba words, stopwords removed,
    joined by spaces). A chat made only of stopwords becomes the empty text,
    which the models still score.

    Example:
    >>> segment_texts(["这个游戏的画面真好看啊"])
    ['游戏 画面 真 好看']
    """
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
    spaces; "" for a chat segmentation emptied), `label` (0-based) and `row`;
    main_scores[split]: the [n, 5] ground-truth frequencies behind Acc@k;
    emptied[split]: how many chats of the six-level split are empty;
    templates: every prompt template, for the tiny LM's vocabulary.
    """

    form: str
    source: str
    synthetic: bool
    six: dict
    main: dict
    main_scores: dict
    summary: list
    emptied: dict = dataclasses.field(default_factory=dict)
    templates: tuple = ()

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


def prepare_danmu(data_dir, synthetic=False, settings=None, split_seed=0):
    """Read either form, segment, label and split: a `DanmuSplits`."""
    settings = dict(DEFAULT_PROTOCOL, **(settings or {}))
    form, path = detect_form(data_dir, settings["data_form"])
    tokenizer = chinese_tokenizer(settings["jieba_cache_dir"], settings["stopwords"])
    normalize = functools.lru_cache(None)(tokenizer)  # chats repeat across rows of the raw table
    summary = [f"{form} form: {path}"]
    six, main, scores, emptied = {}, {}, {}, {}
    if form == "raw":
        by_level = {level: danmu.read_danmu_raw(path, level=level, normalize=normalize)
                    for level in ("six", "main")}
        for level, data in by_level.items():
            summary.append(f"{level}: {len(data.frame)} segmented chats, {data.dropped} left out "
                           "(emptied by segmentation" + (", or in none of the 5 picked categories)"
                                                          if level == "six" else ")"))
        for level, data in by_level.items():
            assignment = hash_split(data.frame["text"], settings["split_fractions"], split_seed)
            for k, split in enumerate(SPLITS):
                keep = assignment == k
                frame = data.frame[keep].reset_index(drop=True)
                if level == "six":
                    six[split], emptied[split] = frame, 0
                else:
                    main[split] = frame
                    scores[split] = data.scores[keep].astype(np.float64)
    else:
        for split, data in danmu.read_danmu_processed(path).items():
            frame = data.frame.copy()
            frame["text"] = [normalize(t) for t in frame["text"]]
            emptied[split] = int((frame["text"] == "").sum())
            six[split] = frame
            mapped = frame["label"].map(SIX_TO_MAIN)
            kept = mapped.notna().to_numpy()
            main_frame = frame[kept].reset_index(drop=True)
            main_frame["label"] = mapped[kept].astype(np.int64).to_numpy()
            main[split] = main_frame
            scores[split] = np.eye(len(danmu.MAIN_CATEGORIES))[main_frame["label"].to_numpy()]
            summary.append(f"{split}.csv: {len(frame)} chats, every one kept ({emptied[split]} emptied by "
                           f"segmentation: scored as the empty text); {len(main_frame)} with a main category "
                           "(general has none)")
    splits = DanmuSplits(form, path, synthetic, six, main, scores, summary, emptied)
    _check_sizes({"six": six, "main": main}, path)
    for level, frames, names in (("six", six, danmu.SIX_CLASSES), ("main", main, danmu.MAIN_CATEGORIES)):
        counts = np.bincount(frames["train"]["label"], minlength=len(names))
        summary.append(f"{level} train/val/test {[len(frames[s]) for s in SPLITS]}; train classes "
                       + ", ".join(f"{n} {c}" for n, c in zip(names, counts)))
    return splits


def check_danmu(data_dir, data_form="auto"):
    """What `memotion-tf data check --dataset danmu` prints: form and counts."""
    data = prepare_danmu(data_dir, settings={"data_form": data_form})
    return "\n".join(data.summary)


# --------------------------------------------------------------------------
# Keeping the best epoch on validation.
# --------------------------------------------------------------------------


def _best_epoch_class():
    import keras

    from memotion_tf.io import atomic_directory, write_path

    class BestEpoch(keras.callbacks.Callback):
        """Keeps the trainable weights of the epoch whose validation `monitor`
        is best and puts them back when training ends.

        Only trainable weights are kept: the other weights of these models do
        not change in training (no batch normalisation; prompt tuning's LM is
        frozen), and a large frozen LM is not copied each time the soft prompt
        improves. With `state_dir` the best weights and their epoch live on
        disk (written together, atomically), so a run resumed after a kill
        still ends on the best epoch of all those trained; without, they are
        kept in memory. Epochs without the monitored log (validation every few
        epochs) are skipped. Put it before the backup callback, so an epoch's
        best weights are written before the backup that marks the epoch done.

        Args:
            monitor: a validation log, e.g. `val_accuracy` (higher is better)
                or `val_loss` (a name ending in `loss`: lower is better).
            state_dir: folder for the best weights, or None.

        Example:
        >>> best = BestEpoch("val_accuracy")
        >>> model.fit(train, validation_data=val, epochs=20, callbacks=[best])
        >>> best.best_epoch  # 1-based; the model now holds that epoch's weights
        """

        def __init__(self, monitor="val_accuracy", state_dir=None):
            super().__init__()
            self.monitor = monitor
            self.lower_is_better = monitor.endswith("loss")
            self.folder = os.path.join(state_dir, "best") if state_dir else None
            self.best_epoch, self.best_value, self._weights = None, None, None

        @staticmethod
        def _files(folder):
            return os.path.join(folder, "weights.npz"), os.path.join(folder, "best.json")

        def on_train_begin(self, logs=None):
            import json

            if self.folder is None:
                return
            _, state = self._files(write_path(self.folder))
            if os.path.exists(state):
                with open(state) as f:
                    saved = json.load(f)
                self.best_epoch, self.best_value = saved["epoch"], saved["value"]
                log.info("resuming: best %s so far %.4f (epoch %d)", self.monitor, self.best_value,
                         self.best_epoch)

        def _better(self, value):
            if self.best_value is None:
                return True
            return value < self.best_value if self.lower_is_better else value > self.best_value

        def on_epoch_end(self, epoch, logs=None):
            import json

            value = (logs or {}).get(self.monitor)
            if value is None or not np.isfinite(value) or not self._better(float(value)):
                return
            self.best_epoch, self.best_value = epoch + 1, float(value)
            values = [keras.ops.convert_to_numpy(w) for w in self.model.trainable_weights]
            if self.folder is None:
                self._weights = values
                return
            with atomic_directory(self.folder) as tmp:
                weights, state = self._files(tmp)
                np.savez(weights, *values)
                with open(state, "w") as f:
                    json.dump({"epoch": self.best_epoch, "value": self.best_value, "monitor": self.monitor}, f)

        def on_train_end(self, logs=None):
            if self.best_epoch is None:
                log.warning("no epoch logged %s: the last epoch's weights are kept", self.monitor)
                return
            values = self._weights
            if self.folder is not None:
                with np.load(self._files(write_path(self.folder))[0]) as saved:
                    values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            for variable, value in zip(self.model.trainable_weights, values, strict=True):
                variable.assign(value)
            log.info("kept epoch %d (%s %.4f)", self.best_epoch, self.monitor, self.best_value)

    return BestEpoch


def best_epoch_callback(config, state_dir=None, default="val_accuracy"):
    """The row's `BestEpoch` (monitor `protocol.best_epoch_metric`)."""
    return _best_epoch_class()(protocol(config).get("best_epoch_metric", default), state_dir)


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


# --------------------------------------------------------------------------
# The 6-class rows: linear baseline and Chinese BERT.
# --------------------------------------------------------------------------


def _with_image_column(frame):
    # The shared text pipeline carries an image path column; chats have none.
    frame = frame.copy()
    frame["image_path"] = ""
    return frame


def build_classifier(config, train_texts):
    """(model factory, text preprocessor, optimizer factory) for a 6-class row."""
    from memotion_tf.models.chinese_bert import chinese_bert_classifier, chinese_bert_preprocessor
    from memotion_tf.models.linear_baseline import LinearBaseline
    from memotion_tf.preprocessing.text import SequenceVectorizer
    from memotion_tf.preprocessing.vocabularies import word_piece_vocabulary
    from memotion_tf.training.optimizers import DenseAdam, DenseAdamW

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

        def optimizer(accumulate):
            return DenseAdam(config.learning_rate, **accumulate)

    elif config.model == "bert_classifier":
        vocabulary = None
        if not config.preset:
            vocabulary = word_piece_vocabulary(texts, settings.get("vocabulary_size", 8000))
        vectorizer = chinese_bert_preprocessor(config.preset, sequence_length=config.max_length,
                                               vocabulary=vocabulary, random_init=config.random_init)

        def model():
            return chinese_bert_classifier(num_classes, config.preset, random_init=config.random_init,
                                           vocabulary_size=len(vocabulary) if vocabulary else None,
                                           sequence_length=config.max_length, **config.model_args)

        def optimizer(accumulate):
            opt = DenseAdamW(config.learning_rate, weight_decay=settings.get("weight_decay", 0.01), **accumulate)
            opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
            return opt

    else:
        raise config_lib.ConfigError(f"{config.config_path}: model {config.model!r} is not a 6-class "
                                     f"BiliMemeNet model {CLASSIFIERS}")
    return model, vectorizer, optimizer


@dataclasses.dataclass
class Trained:
    """One trained 6-class or prompt-tuning run.

    model: the model (a `PromptScorer` for prompt rows) holding the kept
    epoch's weights; preprocessor: its text preprocessing; history: fit's
    logs; probabilities: test scores [n, classes]; best_epoch: the kept
    epoch (1-based), None for a row that trains nothing.
    """

    model: object
    preprocessor: object
    history: dict
    probabilities: np.ndarray
    best_epoch: int = None


def _steps(config):
    return int(protocol(config).get("steps_per_epoch", 0) or 0)


def train_classifier(config, data, seed, strategy, callbacks=(), state_dir=None, verbose=0):
    """One seeded 6-class run, ending on its best validation epoch: a `Trained`.

    `callbacks`: the runner's (history, TensorBoard, backup, progress); the
    `BestEpoch` callback goes before them. `state_dir`: where `BestEpoch`
    keeps the best weights across a resume (None: in memory).
    """
    import keras

    from memotion_tf.input_pipeline import meme_dataset
    from memotion_tf.training import loop
    from memotion_tf.training.epochs import EpochCounter
    from memotion_tf.training.memory import resolve_accumulation
    from memotion_tf.training.optimizers import accumulation
    from memotion_tf.training.precision import compile_options
    from memotion_tf.training.schedules import scaled_learning_rate

    keras.utils.set_random_seed(seed)
    config = config.replace(learning_rate=scaled_learning_rate(
        config.learning_rate, strategy.num_replicas_in_sync, config.lr_scaling))
    settings = protocol(config)
    num_classes = len(danmu.SIX_CLASSES)
    train, val, test = (_with_image_column(data.six[s]) for s in SPLITS)
    model_fn, vectorizer, optimizer_fn = build_classifier(config, train["text"])
    batch = config.batch_size * strategy.num_replicas_in_sync
    eval_batch = int(settings.get("eval_batch_size", batch))
    common = dict(modalities=("text",), vectorizer=vectorizer)
    with strategy.scope():
        model = model_fn()
    accumulate = resolve_accumulation(config.accumulation_steps, model, config.batch_size, strategy=strategy,
                                      sequence_length=config.max_length)
    # Each epoch's batches come from (seed, epoch), so that a run resumed from
    # its backup trains on the batches an uninterrupted one does. With `steps`,
    # an epoch is that many random mini-batches (the paper's baseline: "2000
    # epochs and each time with a random mini batch"); `accumulate` micro-batches
    # make one update of `batch`.
    epochs = EpochCounter()
    steps = _steps(config) * accumulate
    train_ds = meme_dataset(train, num_classes=num_classes, shuffle_seed=seed, batch_size=batch // accumulate,
                            epoch=epochs.epoch, steps=steps or None, **common)
    val_ds = meme_dataset(val, num_classes=num_classes, batch_size=eval_batch, **common)
    test_ds = meme_dataset(test, batch_size=eval_batch, **common)
    with strategy.scope():
        model.compile(optimizer=optimizer_fn(accumulation(accumulate)), loss="categorical_crossentropy",
                      metrics=["accuracy"], **compile_options(config, model, strategy))
    best = best_epoch_callback(config, state_dir)
    history = loop.fit(model, train_ds, validation_data=val_ds, epochs=config.epochs,
                       validation_freq=int(settings.get("validation_freq", 1)),
                       callbacks=[best, epochs, *callbacks], verbose=verbose, shuffle=False)
    probabilities = model.predict(test_ds, verbose=0)
    return Trained(model, vectorizer, dict(history.history), probabilities, best.best_epoch)


# --------------------------------------------------------------------------
# The prompt rows: discrete prompts (zero-shot) and prompt tuning.
# --------------------------------------------------------------------------


def candidate_names():
    """The answers the prompts offer, in MAIN_CATEGORIES order (Table 2's choices)."""
    return [danmu.MAIN_CHINESE_NAMES[c] for c in danmu.MAIN_CATEGORIES]


@functools.lru_cache(maxsize=2)
def _data_tokenizer(texts, min_count=1):
    """One byte-level BPE tokeniser per vocabulary source, shared by the prompt
    rows: its BPE cache then fills once, not once per row and seed."""
    from memotion_tf.preprocessing.vocabularies import gpt2_tokenizer_from_texts

    return gpt2_tokenizer_from_texts(texts, min_count=min_count)


def _tiny_lm_texts(train_texts, templates, min_count=1):
    """What the tiny LM's vocabulary is computed from: the training chats as the
    prompt shows them (spaces removed), every template and the candidate names,
    these `min_count` times so their characters always have their own tokens."""
    texts = ["".join(str(t).split()) for t in train_texts]
    return tuple(texts + (list(templates) + candidate_names()) * max(1, min_count))


def build_prompt_scorer(config, train_texts, templates=(), strategy=None):
    """A `PromptScorer` for a prompt row. The LM is a config value: `preset`
    names a keras-hub causal-LM preset (its backbone and its own tokeniser,
    whatever the model family), or, empty, a tiny randomly initialised GPT-2
    sized by `model_args` whose byte-level vocabulary covers the training
    chats, the `templates` and the candidate names (`protocol.lm_min_count`)."""
    import tensorflow as tf

    from memotion_tf.models.prompt_lm import PromptLM, PromptScorer, causal_lm_backbone, gpt2_backbone

    settings = protocol(config)
    template = settings.get("template")
    if not template:
        raise config_lib.ConfigError(f"{config.config_path}: a prompt row needs protocol.template")
    strategy = strategy or tf.distribute.get_strategy()
    if config.preset and config.random_init:
        from memotion_tf.models.prompt_lm import lm_tokenizer

        # The preset's full-size architecture, random weights, offline: its
        # tokenizer class on a byte-level vocabulary of the data.
        min_count = int(settings.get("lm_min_count", 1))
        tokenizer = lm_tokenizer(config.preset, random_init=True,
                                 texts=_tiny_lm_texts(train_texts, templates or [template], min_count),
                                 min_count=min_count)
    elif config.preset:
        import keras_hub

        # Whatever keras-hub model the preset holds: its own tokeniser and backbone.
        tokenizer = keras_hub.models.Tokenizer.from_preset(config.preset)
    else:
        min_count = int(settings.get("lm_min_count", 1))
        tokenizer = _data_tokenizer(_tiny_lm_texts(train_texts, templates or [template], min_count), min_count)
    with strategy.scope():
        if config.preset:
            backbone = causal_lm_backbone(config.preset, random_init=config.random_init)
        else:
            backbone = gpt2_backbone(vocabulary_size=tokenizer.vocabulary_size(), **config.model_args)
        lm = PromptLM(backbone, num_prompt_tokens=int(settings.get("num_prompt_tokens", 0)),
                      initializer_stddev=float(settings.get("initializer_stddev", 0.02)))
    return PromptScorer(lm, tokenizer, template, candidate_names(), max_text_tokens=config.max_length,
                        score=settings.get("score", "mean"))


def run_prompt(config, data, seed, strategy, templates=(), callbacks=(), state_dir=None, verbose=0):
    """One seeded prompt run: a `Trained` whose `model` is the `PromptScorer`
    and `probabilities` the test log-likelihoods [n, 5]. With a soft prompt
    (prompt tuning), it is trained first and the best validation epoch kept."""
    import keras

    from memotion_tf.training import loop
    from memotion_tf.training.epochs import EpochCounter
    from memotion_tf.training.memory import resolve_accumulation
    from memotion_tf.training.optimizers import DenseAdam, accumulation
    from memotion_tf.training.precision import compile_options
    from memotion_tf.training.schedules import scaled_learning_rate

    keras.utils.set_random_seed(seed)
    settings = protocol(config)
    train, val, test = (data.main[s] for s in SPLITS)
    scorer = build_prompt_scorer(config, train["text"], templates, strategy)
    history, best_epoch = {}, None
    if scorer.lm.soft_prompt is not None:
        batch = config.batch_size * strategy.num_replicas_in_sync
        # `accumulate` micro-batches per update of `batch` (each micro-batch's
        # loss is its mean over its answer tokens, so the update is close to,
        # not exactly, the whole batch's when answers differ in length).
        accumulate = resolve_accumulation(config.accumulation_steps, scorer.lm, config.batch_size,
                                          strategy=strategy, sequence_length=config.max_length)
        with strategy.scope():
            scorer.lm.compile(
                optimizer=DenseAdam(scaled_learning_rate(
                    config.learning_rate, strategy.num_replicas_in_sync, config.lr_scaling),
                    **accumulation(accumulate)),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                **compile_options(config, scorer.lm, strategy),
            )
        # Each epoch's batches (with `steps`: that many random ones) from (seed, epoch), as in train_classifier.
        epochs = EpochCounter()
        steps = _steps(config) * accumulate
        train_ds = scorer.training_dataset(train["text"], train["label"], batch // accumulate, shuffle_seed=seed,
                                           epoch=epochs.epoch, steps=steps or None)
        best = best_epoch_callback(config, state_dir, default="val_loss")
        fit = loop.fit(
            scorer.lm, train_ds,
            validation_data=scorer.training_dataset(val["text"], val["label"],
                                                    int(settings.get("eval_batch_size", batch))),
            epochs=config.epochs,
            validation_freq=int(settings.get("validation_freq", 1)),
            callbacks=[best, epochs, *callbacks], verbose=verbose, shuffle=False)
        history, best_epoch = dict(fit.history), best.best_epoch
    scores = scorer.scores(test["text"], batch_size=int(settings.get("eval_batch_size", 64)))
    return Trained(scorer, scorer.tokenizer, history, scores, best_epoch)


def prompt_metrics(predictions, gold_scores):
    """Acc@1 and Acc@3 (section 6.2.3) of predicted categories ([n] indices, or
    [n, 5] scores: their argmax) against the ground-truth frequencies."""
    from memotion_tf.evaluation.topk import acc_at_k

    return {"acc_at_1": acc_at_k(predictions, gold_scores, 1), "acc_at_3": acc_at_k(predictions, gold_scores, 3)}


def six_class_metrics(labels, predictions):
    """Accuracy (the paper's metric) and macro F1 over the 6 classes."""
    from memotion_tf.evaluation.metrics import classification_metrics

    return classification_metrics(np.asarray(labels), np.asarray(predictions), len(danmu.SIX_CLASSES))


def prompt_templates(configs):
    """Every prompt row's template, in order and once each."""
    templates = [protocol(c).get("template", "") for c in configs if c.model == PROMPT_MODEL]
    return tuple(dict.fromkeys(t for t in templates if t))


# --------------------------------------------------------------------------
# The paper.
# --------------------------------------------------------------------------


class BiliMemeNet(Paper):
    """BiliMemeNet's table: two 6-class classifiers (accuracy) and five prompt
    rows on the 5 main categories (Acc@1 / Acc@3), on the test split."""

    name = "bilimeme"
    title = ("BiliMemeNet (Tu, Mao, Xue, Zhang): Bilibili bullet-chat categories, "
             "sections 5, 6.2 (Table 2) and 6.3.2")
    reference = ("Tu, Mao, Xue, Zhang. BiliMemeNet: Using NLP to Learn Chinese Meme From Bullet Chat. "
                 "UMass Amherst student project; code and data: GitHub h-tu/bilimemenet")
    dataset = "danmu"
    config_files = (
        "bilimeme/linear_baseline.toml",
        "bilimeme/chinese_bert.toml",
        "bilimeme/prompt_1_question.toml",
        "bilimeme/prompt_2_text_classification.toml",
        "bilimeme/prompt_3_danmu_classification.toml",
        "bilimeme/prompt_4_internet_meme_classification.toml",
        "bilimeme/prompt_tuning.toml",
    )
    evaluation_split = "test"
    splits = ("test", "val", "train", "all")
    split_aliases = {"dev": "val"}
    paper_columns = (("accuracy", "paper accuracy"), ("acc_at_1", "paper Acc@1"), ("acc_at_3", "paper Acc@3"))
    metric_columns = (("accuracy", "ours accuracy"), ("acc_at_1", "ours Acc@1"), ("acc_at_3", "ours Acc@3"))
    primary_metric = "accuracy"
    protocol_keys = PROTOCOL_KEYS
    notes = (
        "Accuracy: 6 classes (anime, game, technology, life, food, general), test split, every chat of it: "
        "a chat that jieba and stopword removal empty is scored as the empty text (the model's prediction "
        "for the empty input). Acc@1 / Acc@3: 5 main categories, the paper's definition (section 6.2.3): "
        "the predicted category counts when it is among the k highest-frequency ground-truth categories "
        "of the chat; general chats have no main category and are not in the prompt rows' test set.",
        "Trained rows keep the epoch with the best validation score (accuracy; prompt tuning: validation "
        "loss). Training is bounded in random mini-batches (`steps_per_epoch` x `epochs`): the linear "
        "baseline trains the paper's 2,000 random batches.",
        "The paper's linear-baseline figure (24.7%) is on its five largest categories; its conclusion "
        "calls the 6-class baseline 'almost the same as a random guess (16%)'. Its other 6-class "
        "fine-tuning results: Chinese RoBERTa 47.42% and a distilled Chinese GPT-2 47.74% (10 epochs), "
        "GPT-2 under 50% after 25 epochs.",
        "Prompts: the paper prompts Pangu-alpha 2.6B, which has no Keras port; the LM is the config's "
        "`preset` (a keras-hub causal LM). The quick profile's LM is a tiny randomly initialised one with "
        "a byte-level vocabulary from the data, so its zero-shot numbers are chance-level by construction "
        "and prompt tuning cannot steer it far: those rows need pretrained weights to mean anything.",
        "Candidates are ranked by their mean per-token log-likelihood after the filled-in template "
        "(`protocol.score = \"mean\"`): the five names are 2 to 4 characters long (and more tokens), and "
        "a sum of log-probabilities would favour the shortest. Pangu's generated text was matched "
        "against the names in the paper; ranking the names is the deterministic form of that.",
        "Table 2 of the paper as extracted prints a second, garbled pair of numbers for some prompts; "
        "we take the first (0.093/0.118, 0.131/0.143, 0.098/0.104, 0.145/0.158).",
    )

    # ------------------------------------------------------------- configs

    def model_arguments(self, config):
        return _model_arguments(config)

    def check_config(self, config):
        check_keys(config, "protocol", config.protocol, self.protocol_keys)
        models = {m: None for m in CLASSIFIERS + (PROMPT_MODEL,)}
        check_keys(config, "model", {config.model: None}, models)
        check_keys(config, "model_args", config.model_args, self.model_arguments(config))
        if config.model == PROMPT_MODEL:
            from memotion_tf.models.prompt_lm import SCORE_MODES

            if not protocol(config).get("template"):
                raise config_lib.ConfigError(f"{config.config_path}: a prompt row needs protocol.template")
            score = protocol(config).get("score", "mean")
            if score not in SCORE_MODES:
                raise config_lib.ConfigError(f"{config.config_path}: protocol.score must be one of "
                                             f"{SCORE_MODES}, not {score!r}")
        if protocol(config)["data_form"] not in DATA_FORMS:
            raise config_lib.ConfigError(f"{config.config_path}: protocol.data_form must be one of "
                                         f"{DATA_FORMS}, not {protocol(config)['data_form']!r}")

    def default_templates(self):
        """The templates of the paper's prompt rows: they all go into the tiny
        LM's vocabulary, so a seed's LM is the same whichever rows run."""
        configs = [config_lib.load_config(p, "quick") for p in self.config_paths()]
        return prompt_templates(configs)

    # ---------------------------------------------------------------- data

    def prepare(self, configs, data_dir, synthetic):
        first = configs[0]
        for config in configs[1:]:
            for key in DATA_KEYS:
                if protocol(config)[key] != protocol(first)[key]:
                    raise config_lib.ConfigError(f"{config.config_path}: protocol.{key} differs from "
                                                 f"{first.config_path}; the rows share one copy of the data")
            if config.split_seed != first.split_seed:
                raise config_lib.ConfigError(f"{config.config_path}: split_seed differs from "
                                             f"{first.config_path}; the rows share one split")
        data = prepare_danmu(data_dir, synthetic, protocol(first), split_seed=first.split_seed)
        data.templates = tuple(dict.fromkeys(self.default_templates() + prompt_templates(configs)))
        for line in data.summary:
            log.info("%s", line)
        return data

    def data_summary(self, data):
        return {"form": data.form, "source": data.source, "summary": list(data.summary),
                "emptied_by_segmentation": dict(data.emptied),
                "six": {s: len(data.six[s]) for s in SPLITS}, "main": {s: len(data.main[s]) for s in SPLITS}}

    # ---------------------------------------------------------------- rows

    def planned_epochs(self, unit):
        config = unit.config
        if config.model == PROMPT_MODEL and not int(protocol(config).get("num_prompt_tokens", 0)):
            return 0  # zero-shot: nothing trains
        return config.epochs

    def signature(self, unit, data):
        signature = super().signature(unit, data)
        signature["data"] = data.signature()
        if unit.config.model == PROMPT_MODEL and not unit.config.preset:
            signature["lm_vocabulary"] = {"templates": list(data.templates), "candidates": candidate_names()}
        return signature

    def train(self, unit, data, seed, ctx):
        config = unit.config
        prompt = config.model == PROMPT_MODEL
        callbacks = ctx.callbacks() if self.planned_epochs(unit) else []
        state_dir = ctx.scratch("best") if callbacks else None
        if prompt:
            trained = run_prompt(config, data, seed, ctx.strategy, data.templates, callbacks, state_dir,
                                 ctx.verbose)
            metrics = prompt_metrics(trained.probabilities, data.main_scores["test"])
        else:
            trained = train_classifier(config, data, seed, ctx.strategy, callbacks, state_dir, ctx.verbose)
            metrics = six_class_metrics(data.six["test"]["label"], trained.probabilities.argmax(-1))
        history = ctx.history() if callbacks else {}

        def export(path):
            from memotion_tf.export import export_classifier
            from memotion_tf.models.prompt_lm import export_prompt_scorer

            metadata = _metadata(config, data, seed, metrics, trained.best_epoch)
            if prompt:
                export_prompt_scorer(trained.model, path, class_names=danmu.MAIN_CATEGORIES, metadata=metadata)
            else:
                export_classifier(trained.model, path, class_names=danmu.SIX_CLASSES,
                                  vectorizer=trained.preprocessor, metadata=metadata)
            return {}

        return Run(metrics=metrics, history=history, export=export,
                   record={"best_epoch": trained.best_epoch,
                           "test_predictions": np.asarray(trained.probabilities).argmax(-1).tolist()})

    def plot_row(self, unit, data, records, folder):
        from memotion_tf.evaluation.metrics import confusion
        from memotion_tf.evaluation.plots import plot_confusion, plot_curves

        prompt = unit.config.model == PROMPT_MODEL
        class_names, test = (danmu.MAIN_CATEGORIES, data.main["test"]) if prompt else (danmu.SIX_CLASSES,
                                                                                        data.six["test"])
        first = records[0]
        truth = "top-1 gold main category" if prompt else "gold"
        plot_confusion(confusion(test["label"].to_numpy(), np.asarray(first["test_predictions"]), len(class_names)),
                       class_names, f"{unit.system} (seed {first['seed']}, test; rows: {truth})",
                       os.path.join(folder, "confusion_matrix.png"), xticks_rotation=35)
        every = int(protocol(unit.config).get("validation_freq", 1))
        histories = [_fill_validation(r["history"], every) for r in records if r.get("history")]
        if histories:
            plot_curves(histories, f"{unit.system}: training curves", os.path.join(folder, "training_curves.png"),
                        metric=self.primary_metric)

    def row_extras(self, unit, data, records):
        prompt = unit.config.model == PROMPT_MODEL
        return {"level": "main" if prompt else "six",
                "classes": list(danmu.MAIN_CATEGORIES if prompt else danmu.SIX_CLASSES),
                "best_epochs": [r.get("best_epoch") for r in records]}

    def baselines(self, data, configs):
        """On the test split: the training split's majority class (6-class
        accuracy) and its most frequent main category (Acc@1 / Acc@3),
        predicted for every chat, by the rows' own metric code."""
        from memotion_tf.evaluation.metrics import summarize_runs

        rows = []

        def row(system, metrics):
            rows.append({"system": system, "baseline": True, "metrics": {k: summarize_runs([v])
                                                                         for k, v in metrics.items()},
                         "paper": {}, "seeds": []})

        if any(c.model in CLASSIFIERS for c in configs):
            majority = int(np.bincount(data.six["train"]["label"], minlength=len(danmu.SIX_CLASSES)).argmax())
            test = data.six["test"]
            row(f"majority class ({danmu.SIX_CLASSES[majority]})",
                six_class_metrics(test["label"], np.full(len(test), majority)))
        if any(c.model == PROMPT_MODEL for c in configs):
            top = int(np.bincount(data.main["train"]["label"], minlength=len(danmu.MAIN_CATEGORIES)).argmax())
            gold = data.main_scores["test"]
            row(f"most frequent main category ({danmu.MAIN_CATEGORIES[top]})",
                prompt_metrics(np.full(len(gold), top), gold))
        return rows

    # ------------------------------------------------------------- results

    def results_extras(self, data, configs):
        return {"data_form": data.form, "evaluation_split": self.evaluation_split}

    def markdown(self, results):
        from memotion_tf.evaluation.report import results_markdown

        return results_markdown(results, self, scope=f"({results.get('data_form', '?')} form)",
                                corpus="Bilibili", items="bullet chats")

    # ---------------------------------------------------------- evaluation

    def evaluate(self, saved_model, meta, data_dir, split, batch_size=64, output=None):
        """Metrics of an exported BiliMemeNet SavedModel on `split` of `data_dir`,
        prepared as training prepared it (form, split and stopwords from the
        SavedModel's metadata). The chats are segmented here, as the SavedModel
        expects."""
        from memotion_tf.export import load_exported

        serve, _, _ = load_exported(saved_model)
        settings = {"data_form": meta.get("data_form", "auto"), "split_fractions": meta["split_fractions"],
                    "stopwords": meta.get("stopwords", DEFAULT_PROTOCOL["stopwords"])}
        data = prepare_danmu(data_dir, settings=settings, split_seed=meta.get("split_seed", 0))
        prompt = meta.get("level", "main" if meta["class_names"] == list(danmu.MAIN_CATEGORIES) else "six") == "main"
        frames = data.main if prompt else data.six
        splits = list(SPLITS) if split == "all" else [split]
        frame = pd.concat([frames[s] for s in splits], ignore_index=True)
        texts = frame["text"].astype(str).tolist()
        probabilities = []
        for start in range(0, len(texts), batch_size):
            chunk = np.asarray(texts[start:start + batch_size], dtype=object)
            out = serve(text=chunk, image=np.asarray([b""] * len(chunk), dtype=object))
            probabilities.append(out["probabilities"].numpy())
        predictions = np.concatenate(probabilities).argmax(-1)
        if prompt:
            metrics = prompt_metrics(predictions, np.concatenate([data.main_scores[s] for s in splits]))
        else:
            metrics = six_class_metrics(frame["label"], predictions)
        return {"examples": len(frame), "metrics": metrics}


def _model_arguments(config):
    """The `model_args` a row's model takes: the linear baseline's layer sizes;
    for Chinese BERT the head's dropout and, without a preset, the random
    BERT's sizes; for the prompt LM, without a preset, the tiny LM's sizes."""
    if config.model == "linear_baseline":
        from memotion_tf.models.linear_baseline import LinearBaseline

        known = constructor_arguments(LinearBaseline)
        for data_dependent in ("vocabulary_size", "sequence_length", "num_classes"):
            known.pop(data_dependent, None)
        return known
    import keras_hub

    if config.model == "bert_classifier":
        known = {"dropout": None}
        if not config.preset:
            known.update(constructor_arguments(keras_hub.models.BertBackbone))
            known.pop("vocabulary_size", None)
            known.pop("max_sequence_length", None)
        return known
    if config.model == PROMPT_MODEL and not config.preset:
        known = constructor_arguments(keras_hub.models.GPT2Backbone)
        known.pop("vocabulary_size", None)
        return known
    return {}


def _metadata(config, data, seed, metrics, best_epoch):
    return {
        "paper": config.paper, "system": config.system, "dataset": config.dataset, "task": config.task,
        "level": "main" if config.model == PROMPT_MODEL else "six",
        "text_field": "text", "text_input": TEXT_INPUT, "data_form": data.form,
        "split_fractions": protocol(config)["split_fractions"], "split_seed": config.split_seed,
        "stopwords": protocol(config)["stopwords"], "evaluation_split": "test",
        "seed": seed, "best_epoch": best_epoch, "test_metrics": metrics,
    }
