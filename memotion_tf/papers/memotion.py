"""What UoR and CN-HIT-MI.T share: Memotion 7k, single-label classifiers fed by tf.data.

    labels.csv (datasets/memotion7k.py) -> image check -> split (hold-out or folds)
    -> per row and seed: [text cleaning] -> vectoriser or keras-hub preprocessor
       -> [GMM oversampling] -> tf.data (input_pipeline.py) -> model (models/)
       -> fit under the strategy (training/loop.py) -> scores on the held-out memes
       -> SavedModel (export.py), raw text and image bytes in

`UoR` (papers/uor.py) and `CNHIT` (papers/cnhit.py) are this class with their
tables, configs and notes.
"""

import dataclasses
import logging

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from memotion_tf import config as config_lib
from memotion_tf.papers.base import Paper, Run

log = logging.getLogger("memotion_tf")

LOSSES = ("categorical_crossentropy", "tsa", "clean_raw_kl")


def task_heads(task):
    """Memotion task B: four yes/no labels; C: their levels (4, 4, 4, 2 classes);
    A (one 3-class label): None."""
    from memotion_tf.datasets.memotion7k import LEVELS

    if task == "A":
        return None
    if task not in ("B", "C"):
        raise config_lib.ConfigError(f"unknown Memotion task {task!r}; expected A, B or C")
    return [(name, 2 if task == "B" else len(levels)) for name, levels in LEVELS.items()]
AUGMENTATIONS = ("", "randaugment")
DATA_SOURCES = ("files", "tfds")


@dataclasses.dataclass
class PreparedData:
    frame: object  # pandas DataFrame of usable rows
    class_names: tuple
    folds: list  # [(train_index, val_index)]: one hold-out split, or k folds
    skip_report: object
    data_dir: str
    synthetic: bool
    heads: list = None  # tasks B and C: [(label, number of classes)]; task A: None

    def targets(self, frame):
        """Tasks B and C: each head's one-hot label side by side, `[rows, sum of head sizes]`."""
        blocks = [np.eye(size, dtype="float32")[frame[name].to_numpy()] for name, size in self.heads]
        return np.concatenate(blocks, axis=1)

    def level_names(self, head):
        """The class names of one head of task B or C."""
        from memotion_tf.datasets.memotion7k import LEVELS

        size = dict(self.heads)[head]
        return ("no", "yes") if size == 2 and len(LEVELS[head]) > 2 else tuple(LEVELS[head])

    def split(self, name, fold=0, images=False):
        """The memes of a split; `images=True` keeps only those whose image is usable."""
        train_index, val_index = self.folds[fold]
        if name == "train":
            frame = self.frame.iloc[train_index].reset_index(drop=True)
        elif name == "val":
            frame = self.frame.iloc[val_index].reset_index(drop=True)
        elif name == "all":
            frame = self.frame
        else:
            raise ValueError(f"unknown split {name!r}; expected train, val or all")
        if images and "image_ok" in frame:
            frame = frame[frame["image_ok"]].reset_index(drop=True)
        return frame


def split_indices(labels, val_fraction, split_seed):
    """Stratified hold-out split, fixed by `split_seed` for every run and system."""
    index = np.arange(len(labels))
    train, val = train_test_split(index, test_size=val_fraction, random_state=split_seed, stratify=labels)
    return np.sort(train), np.sort(val)


def subsample_indices(index, labels, size, seed):
    """`size` of the rows `index` (labels `labels`), stratified, sorted; at
    least one of each class (`size` must be at least the number of classes).

    scikit-learn's stratified split draws them; where it cannot (a class with
    a single row, or fewer rows left out than classes), each class gets its
    share of `size` rounded down, at least one (taken from the largest) and
    at most all its rows, the rest going to the largest remainders; the rows
    are drawn at random by `seed`."""
    try:
        kept, _ = train_test_split(index, train_size=size, random_state=seed, stratify=labels)
        return np.sort(kept)
    except ValueError:
        pass
    classes, counts = np.unique(labels, return_counts=True)
    share = size * counts / counts.sum()
    quota = np.clip(np.floor(share).astype(int), 1, counts)
    while quota.sum() > size:  # the classes raised to one took it from the largest
        quota[np.argmax(quota)] -= 1
    for i in np.argsort(-(share - np.floor(share)), kind="stable"):
        if quota.sum() >= size:
            break
        quota[i] += quota[i] < counts[i]
    rng = np.random.default_rng(seed)
    kept = [rng.choice(index[labels == c], q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(kept))


def fold_indices(labels, folds, split_seed):
    """Stratified k-fold splits, fixed by `split_seed`."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=split_seed)
    return [(np.sort(t), np.sort(v)) for t, v in splitter.split(np.zeros(len(labels)), labels)]


def read_records(config, data_dir, reader, split=None, **reader_args):
    """`reader(data_dir, [split=split,] **reader_args)`: from the files, or, with
    `data_source = "tfds"`, through the dataset's TFDS builder (prepared from
    `data_dir` on first use), which gives the same records in the reader's own object."""
    if config.data_source == "tfds":
        from memotion_tf.datasets.tfds_builders import read_from_tfds

        return read_from_tfds(config.dataset, data_dir, split or "train",
                              tfds_data_dir=config.tfds_data_dir or None, **reader_args)
    if config.data_source != "files":
        raise config_lib.ConfigError(f"{config.config_path}: unknown data_source {config.data_source!r}; "
                                     f"expected one of {DATA_SOURCES}")
    return reader(data_dir, **reader_args) if split is None else reader(data_dir, split=split, **reader_args)


def prepare_data(config, data_dir, synthetic=False, progress=None, images_required=True):
    """Read, validate and split once; all rows of a table share the result.

    With `images_required=False` (a table with text-only rows) memes whose
    image is missing or unreadable stay, marked `image_ok = False`: text rows
    train and score on them, image rows leave them out of both splits."""
    import sys

    from memotion_tf.datasets.common import check_images
    from memotion_tf.datasets.memotion7k import read_memotion7k

    data = read_records(config, data_dir, read_memotion7k, task=config.task, text_field=config.text_field,
                        duplicates=config.duplicates)
    log.info("read %d memes from %s", len(data.frame), data.labels_file)
    if getattr(data, "duplicates", None) is not None:
        log.info("%s", data.duplicates.summary())
    progress = sys.stdout.isatty() if progress is None else progress
    frame, report = check_images(data.frame, progress=progress, required=images_required)
    log.info(report.summary())
    heads = task_heads(config.task)
    # Stratified on the label (tasks B and C: on their first label, humour).
    labels = frame["label" if heads is None else heads[0][0]].to_numpy()
    if config.folds > 1:
        folds = fold_indices(labels, config.folds, config.split_seed)
        log.info("%d-fold split: %d / %d memes in fold 0", config.folds, len(folds[0][0]), len(folds[0][1]))
    else:
        folds = [split_indices(labels, config.val_fraction, config.split_seed)]
        log.info("hold-out split: %d train / %d val memes", len(folds[0][0]), len(folds[0][1]))
    if 0 < config.train_subsample < len(folds[0][0]):
        classes = len(np.unique(labels[folds[0][0]]))
        if config.train_subsample < classes:
            raise config_lib.ConfigError(
                f"{config.config_path}: train_subsample = {config.train_subsample} is below the {classes} classes "
                f"of the training split: a stratified subsample needs one meme of each")
        folds = [(subsample_indices(train, labels[train], config.train_subsample, config.split_seed), val)
                 for train, val in folds]
        log.info("train_subsample: training on a stratified %d of the training memes; validation keeps all %d",
                 len(folds[0][0]), len(folds[0][1]))
    return PreparedData(frame, data.class_names, folds, report, data_dir, synthetic, heads)


def text_preprocessing(config, model_class, train_texts):
    """A keras-hub preprocessor for BERT-style models (from `config.preset`),
    else a `SequenceVectorizer` adapted on the training texts; None for image-only models."""
    from memotion_tf.models import uses_wordpiece
    from memotion_tf.models.pretrained import text_preprocessor
    from memotion_tf.preprocessing.text import SequenceVectorizer

    if "text" not in model_class.modalities:
        return None
    if uses_wordpiece(model_class):
        return text_preprocessor(config.preset, sequence_length=config.max_length, random_init=config.random_init)
    vectorizer = SequenceVectorizer(sequence_length=config.max_length)
    vectorizer.adapt(train_texts)
    return vectorizer


def make_model(config, num_classes, vectorizer, heads=None):
    """Build the config's model (with one softmax head per label for Memotion
    tasks B and C); call inside the strategy's scope."""
    from memotion_tf.models import MODELS, build_model, uses_image_backbone, uses_wordpiece
    from memotion_tf.models.pretrained import text_backbone

    cls = MODELS[config.model]
    model_args = dict(config.model_args)
    extra = {}
    if uses_wordpiece(cls):
        extra["backbone"] = text_backbone(
            config.preset, random_init=config.random_init, vocabulary_size=vectorizer.tokenizer.vocabulary_size(),
            **config.backbone_args)
    elif vectorizer is not None:
        extra["vocabulary_size"] = vectorizer.vocabulary_size
    if uses_image_backbone(cls):
        extra["weights"] = config.image_weights or None
    model = build_model(config.model, num_classes=num_classes, sequence_length=config.max_length,
                        image_size=config.image_size, **extra, **model_args)
    if heads:
        from memotion_tf.models.multi_head import multi_head

        model = multi_head(model, heads)
    return model


def loss_arguments(config, class_names):
    """`config.loss_args` for the loss class, with `target_classes` (TSA's aimed
    classes) given by name in the config and by index to the loss."""
    args = dict(config.loss_args)
    if "target_classes" in args:
        names = list(args["target_classes"])
        unknown = [n for n in names if n not in class_names]
        if unknown:
            raise config_lib.ConfigError(f"{config.config_path}: loss_args.target_classes names unknown "
                                         f"class(es) {unknown}; the classes are {list(class_names)}")
        args["target_classes"] = [list(class_names).index(n) for n in names]
    return args


def pretrained_variables(config, model):
    """The trainable variables of the pretrained text backbone when its rate
    (`pretrained_learning_rate`) differs from the rest's; else []."""
    rate = config.pretrained_learning_rate
    if not rate or rate == config.learning_rate or not config.preset:
        return []
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        return []
    if len(backbone.trainable_variables) == len(model.trainable_variables):
        return []  # the whole model is the pretrained part: learning_rate is its rate
    return list(backbone.trainable_variables)


def _augmentation(config):
    if config.augment == "":
        return None
    if config.augment == "randaugment":
        from memotion_tf.preprocessing.randaugment import rand_augment

        args = dict(config.augment_args)
        return lambda images, seed: rand_augment(images, seed, **args)
    raise config_lib.ConfigError(f"{config.config_path}: unknown augment {config.augment!r}; "
                                 f"expected one of {AUGMENTATIONS}")


def macro_f1_metric(num_classes, two_views=False, heads=None):
    """Macro F1 per epoch, as a Keras metric: the paper's metric in the
    training curves and TensorBoard (on a two-view output, of the cleaned view;
    for tasks B and C, the mean over the labels of each one's macro F1)."""
    import keras

    if heads:
        from memotion_tf.models.multi_head import head_slices

        class MeanHeadMacroF1(keras.metrics.Metric):
            def __init__(self, name="macro_f1", **kwargs):
                super().__init__(name=name, **kwargs)
                self.slices = head_slices(heads)
                self.scores = [keras.metrics.F1Score(average="macro", name=f"macro_f1_{n}") for n, _, _ in self.slices]

            def update_state(self, y_true, y_pred, sample_weight=None):
                for score, (_, start, stop) in zip(self.scores, self.slices):
                    score.update_state(y_true[:, start:stop], y_pred[:, start:stop], sample_weight)

            def result(self):
                return keras.ops.mean(keras.ops.stack([score.result() for score in self.scores]))

            def reset_state(self):
                for score in self.scores:
                    score.reset_state()

        return MeanHeadMacroF1()
    if not two_views:
        return keras.metrics.F1Score(average="macro", name="macro_f1")

    class CleanViewF1(keras.metrics.F1Score):
        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(y_true, y_pred[:, :num_classes], sample_weight)

    return CleanViewF1(average="macro", name="macro_f1")


def train_once(config, data, seed, strategy, fold=0, callbacks=(), verbose=2):
    """One seeded run on one fold: (model, vectorizer, val probabilities).

    The model is built and trained under the dtype policy of `config.precision`
    (`training.precision.config_policy`), its step compiled with XLA as
    `config.jit_compile` resolves, and each batch of `batch_size` split into
    `config.accumulation_steps` micro-batches whose mean gradient makes one
    update (Keras' `gradient_accumulation_steps`).

    The loss (`config.loss`): categorical cross-entropy; `tsa`, the same with
    Training Signal Annealing; or `clean_raw_kl`, equation 5 of CN-HIT-MI.T
    on a two-view wrapper of the model (cleaned and raw text in one step).
    With `text_cleaning`, training sees cleaned text; validation always sees
    the raw text, as the test set and the exported model do.
    """
    from memotion_tf.training.precision import config_policy

    if config.loss not in LOSSES:
        raise config_lib.ConfigError(f"{config.config_path}: unknown loss {config.loss!r}; expected one of {LOSSES}")
    with config_policy(config):
        return _train_once(config, data, seed, strategy, fold, callbacks, verbose)


def _train_once(config, data, seed, strategy, fold, callbacks, verbose):
    import keras

    from memotion_tf.input_pipeline import meme_dataset, token_dataset
    from memotion_tf.losses.consistency import CleanRawKLLoss
    from memotion_tf.losses.tsa import TSALoss, TSAProgress
    from memotion_tf.models import MODELS
    from memotion_tf.preprocessing.cleaning import clean_meme_text
    from memotion_tf.resampling.gmm import gmm_oversample
    from memotion_tf.training import loop
    from memotion_tf.training.epochs import EpochCounter
    from memotion_tf.training.memory import resolve_accumulation
    from memotion_tf.training.optimizers import DenseAdam, PartwiseAdam, accumulation
    from memotion_tf.training.precision import compile_options
    from memotion_tf.training.schedules import learning_rate, scaled_learning_rate
    from memotion_tf.training.two_view import clean_view_accuracy, two_view_model

    keras.utils.set_random_seed(seed)
    model_class = MODELS[config.model]
    modalities = model_class.modalities
    heads = data.heads
    num_classes = len(data.class_names) if heads is None else 2
    if heads and (config.loss != "categorical_crossentropy" or config.gmm):
        raise config_lib.ConfigError(f"{config.config_path}: Memotion task {config.task} trains with "
                                     "loss = \"categorical_crossentropy\" (one per label), without GMM")
    images = "image" in modalities
    train, val = data.split("train", fold, images=images), data.split("val", fold, images=images)
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    two_views = config.loss == "clean_raw_kl"
    if config.text_cleaning or two_views:
        train = train.assign(text_raw=train["text"], text=train["text"].astype(str).map(clean_meme_text))
        changed = int((train["text"] != train["text_raw"].astype(str)).sum())
        log.info("text cleaning changed %d of %d training texts", changed, len(train))

    vectorizer = text_preprocessing(config, model_class, train["text"].astype(str))
    with strategy.scope():
        model = make_model(config, num_classes, vectorizer, heads=heads)
    # Each update: `steps` micro-batches of global_batch / steps (one update of global_batch).
    steps = resolve_accumulation(config.accumulation_steps, model, config.batch_size, strategy=strategy,
                                 sequence_length=config.max_length)
    micro_batch = global_batch // steps
    pipeline = dict(modalities=modalities, batch_size=global_batch, num_classes=num_classes,
                    vectorizer=vectorizer, image_size=config.image_size)
    # Each epoch's order and augmentation come from (seed, epoch), so that a
    # run resumed from its backup trains on the batches an uninterrupted one does.
    epochs = EpochCounter()

    def targets(frame):
        return {} if heads is None else {"targets": data.targets(frame), "num_classes": None}
    if config.gmm:
        if modalities != ("text",) or vectorizer is None or not hasattr(vectorizer, "vocabulary_size"):
            raise config_lib.ConfigError(f"{config.config_path}: GMM oversampling applies to text-only "
                                         "token-sequence models")
        sequences = vectorizer(np.asarray(train["text"].astype(str))).numpy()
        sequences, labels = gmm_oversample(
            sequences, train["label"].to_numpy(), vectorizer.vocabulary_size,
            n_components=config.gmm_components, covariance_type=config.gmm_covariance, seed=seed,
        )
        log.info("GMM oversampling: %s -> %s per class", np.bincount(train["label"]).tolist(),
                 np.bincount(labels).tolist())

    def train_data(rows=slice(None), batch_size=micro_batch):
        # `rows`: one worker's share under MultiWorkerMirroredStrategy (loop.per_worker).
        if config.gmm:
            return token_dataset(sequences[rows], labels[rows], num_classes=num_classes,
                                 batch_size=batch_size, shuffle_seed=seed, epoch=epochs.epoch)
        part = train.iloc[rows]
        return meme_dataset(part, **dict(pipeline, batch_size=batch_size, **targets(part)), shuffle_seed=seed,
                            augment=_augmentation(config), augment_seed=seed, epoch=epochs.epoch,
                            raw_text_column="text_raw" if two_views else None)

    train_ds = train_data()
    # Validation: raw text (both views of a two-view model get the raw text).
    val_ds = meme_dataset(val, **dict(pipeline, **targets(val)), raw_text_column="text" if two_views else None)
    # Optimizer updates (Keras counts an accumulated update once): what the schedule and TSA follow.
    steps_per_epoch = max(int(train_ds.cardinality()) // steps, 1)
    total_steps = steps_per_epoch * config.epochs

    loss_args = loss_arguments(config, data.class_names)
    accumulate = accumulation(steps)
    with strategy.scope():
        schedule = learning_rate(
            config.lr_schedule, scaled_learning_rate(config.learning_rate, strategy.num_replicas_in_sync,
                                                     config.lr_scaling),
            total_steps, config.warmup_fraction)
        pretrained = pretrained_variables(config, model)
        if pretrained:
            # The pretrained encoder fine-tunes at its own rate; the rest (e.g. a ResNet from scratch) at learning_rate.
            optimizer = PartwiseAdam(learning_rate=schedule, scaled_variables=pretrained,
                                     scale=config.pretrained_learning_rate / config.learning_rate, **accumulate)
        else:
            optimizer = DenseAdam(schedule, **accumulate)
        if two_views:
            trainer = two_view_model(model)
            loss = CleanRawKLLoss(**loss_args)
            metrics = [clean_view_accuracy(num_classes), macro_f1_metric(num_classes, two_views=True)]
        elif heads:
            from memotion_tf.losses.multi_head import MultiHeadCrossEntropy

            trainer = model
            loss = MultiHeadCrossEntropy([size for _, size in heads])
            metrics = [macro_f1_metric(num_classes, heads=heads)]
        else:
            trainer = model
            loss = TSALoss(**loss_args) if config.loss == "tsa" else config.loss
            metrics = ["accuracy", macro_f1_metric(num_classes)]
        trainer.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                        **compile_options(config, trainer, strategy))
    before = []
    if getattr(loss, "anneal", isinstance(loss, TSALoss)):
        before.append(TSAProgress(total_steps=total_steps))
    # model.fit, or under MultiWorkerMirroredStrategy the same contract with each worker reading its rows.
    loop.fit(trainer, train_ds, dataset_fn=loop.per_worker(train_data, micro_batch), validation_data=val_ds,
             epochs=config.epochs, callbacks=[*before, epochs, *callbacks], verbose=verbose, shuffle=False)
    # The two-view validation set carries a second text view that the classifier alone does not take.
    eval_ds = meme_dataset(val, **dict(pipeline, **targets(val))) if two_views else val_ds
    probabilities = model.predict(eval_ds.map(lambda x, y: x), verbose=0)
    return model, vectorizer, probabilities


class MemotionPaper(Paper):
    """A Memotion 7k task-A table of single-label classifiers (UoR, CN-HIT-MI.T)."""

    dataset = "memotion7k"
    evaluation_split = "val"
    splits = ("val", "train", "all", "test")
    metric_columns = (("macro_f1", "ours macro-F1"), ("accuracy", "ours accuracy"))
    primary_metric = "macro_f1"

    def check_config(self, config):
        super().check_config(config)
        if config.train_subsample < 0:
            raise config_lib.ConfigError(f"{config.config_path}: train_subsample must be >= 0 (0: all), "
                                         f"not {config.train_subsample}")
        if config.loss not in LOSSES:
            raise config_lib.ConfigError(f"{config.config_path}: unknown loss {config.loss!r}; "
                                         f"expected one of {LOSSES}")
        _augmentation(config)

    def prepare(self, configs, data_dir, synthetic):
        from memotion_tf.models import MODELS

        first = configs[0]
        for config in configs[1:]:
            for field in ("dataset", "task", "text_field", "val_fraction", "split_seed", "folds", "duplicates",
                          "train_subsample"):
                if getattr(config, field) != getattr(first, field):
                    raise config_lib.ConfigError(f"{config.config_path}: `{field}` differs from "
                                                 f"{first.config_path}; the rows share one split")
        # Every meme stays when some row reads no image; the image rows leave out those without one.
        text_only = any("image" not in MODELS[c.model].modalities for c in configs)
        data = prepare_data(first, data_dir, synthetic, images_required=not text_only)
        missing = int((~data.frame["image_ok"]).sum()) if "image_ok" in data.frame else 0
        if missing:
            log.info("%d memes without a usable image stay for the text-only rows; the image rows leave "
                     "them out of training and scoring", missing)
        return data

    def data_summary(self, data):
        train, val = data.folds[0]
        return {"memes": len(data.frame), "skipped_images": len(data.skip_report.skipped),
                "train": len(train), "val": len(val), "folds": len(data.folds),
                "class_names": list(data.class_names), "heads": data.heads}

    def signature(self, unit, data):
        signature = super().signature(unit, data)
        signature["data"] = {"dir": data.data_dir, "memes": len(data.frame)}
        return signature

    def fold(self, data, seed):
        """The fold run `seed` trains on (run i on fold i mod k)."""
        return seed % len(data.folds)

    def units(self, config):
        units = super().units(config)
        if config.task != "A":  # the papers report task A only
            for unit in units:
                unit.paper = {}
        return units

    def train(self, unit, data, seed, ctx):
        from memotion_tf.export import export_classifier, model_modalities

        config = unit.config
        fold = self.fold(data, seed)
        model, vectorizer, probabilities = train_once(config, data, seed, ctx.strategy, fold=fold,
                                                      callbacks=ctx.callbacks(), verbose=ctx.verbose)
        val = data.split("val", fold, images=reads_images(config))
        metrics = score(data, val, probabilities)
        from memotion_tf.models.multi_head import head_predictions

        predictions = head_predictions(probabilities, data.heads)
        if data.heads:
            predictions = {name: argmax.tolist() for name, argmax in predictions.items()}
            class_names = [f"{name}={level}" for name, _ in data.heads for level in data.level_names(name)]
        else:
            predictions = predictions.tolist()
            class_names = data.class_names

        def export(path):
            export_classifier(
                model, path, class_names=class_names, vectorizer=vectorizer, heads=data.heads,
                image_size=config.image_size if "image" in model_modalities(model) else None,
                metadata={
                    "paper": config.paper, "system": config.system, "dataset": config.dataset,
                    "task": config.task, "text_field": config.text_field, "duplicates": config.duplicates,
                    "images_required": "image_ok" not in data.frame,
                    "val_fraction": config.val_fraction, "split_seed": config.split_seed,
                    "folds": config.folds, "fold": fold, "seed": seed, "val_metrics": metrics,
                },
            )
            return {}

        return Run(metrics=metrics, history=ctx.history(), export=export,
                   record={"fold": fold, "val_predictions": predictions})

    def plot_row(self, unit, data, records, folder):
        import os

        from memotion_tf.evaluation.metrics import confusion
        from memotion_tf.evaluation.plots import plot_confusion, plot_confusions, plot_curves

        first = records[0]
        val = data.split("val", first.get("fold", 0), images=reads_images(unit.config))
        title = f"{unit.system} (seed {first['seed']}, validation)"
        path = os.path.join(folder, "confusion_matrix.png")
        if data.heads:
            matrices = [confusion(val[name].to_numpy(), np.asarray(first["val_predictions"][name]), size)
                        for name, size in data.heads]
            plot_confusions(matrices, [name for name, _ in data.heads],
                            [data.level_names(name) for name, _ in data.heads], title, path)
        else:
            plot_confusion(confusion(val["label"].to_numpy(), np.asarray(first["val_predictions"]),
                                     len(data.class_names)), data.class_names, title, path)
        plot_curves([r["history"] for r in records], f"{unit.system}: training curves",
                    os.path.join(folder, "training_curves.png"), metric=self.primary_metric)

    def row_extras(self, unit, data, records):
        return {"folds": [r.get("fold", 0) for r in records]}

    def baselines(self, data, configs):
        """The majority class of the training split (of each label, for tasks B
        and C), predicted for every validation meme, scored by the same code."""
        from memotion_tf.evaluation.metrics import summarize_runs

        train, val = data.split("train"), data.split("val")
        if data.heads:
            blocks, names = [], []
            for name, size in data.heads:
                majority = int(np.bincount(train[name], minlength=size).argmax())
                blocks.append(np.tile(np.eye(size)[majority], (len(val), 1)))
                names.append(f"{name} {data.level_names(name)[majority]}")
            probabilities, what = np.concatenate(blocks, axis=1), ", ".join(names)
        else:
            majority = int(np.bincount(train["label"], minlength=len(data.class_names)).argmax())
            probabilities, what = np.eye(len(data.class_names))[np.full(len(val), majority)], data.class_names[majority]
        metrics = score(data, val, probabilities)
        return [{"system": f"majority class ({what})", "baseline": True,
                 "metrics": {k: summarize_runs([v]) for k, v in metrics.items()}, "paper": {}, "seeds": []}]

    def evaluate(self, saved_model, meta, data_dir, split, batch_size=64, output=None):
        from memotion_tf.export import load_exported

        serve, _, _ = load_exported(saved_model)
        if split == "test":
            return self._evaluate_test(serve, saved_model, meta, data_dir, batch_size, output)
        config = config_lib.ExperimentConfig(dataset=meta["dataset"], task=meta["task"],
                                             text_field=meta["text_field"], val_fraction=meta["val_fraction"],
                                             split_seed=meta["split_seed"], folds=meta.get("folds", 0),
                                             duplicates=meta.get("duplicates", "error"))
        uses_image = "image" in meta["modalities"]
        data = prepare_data(config, data_dir, progress=False,
                            images_required=meta.get("images_required", uses_image))
        frame = data.split(split, meta.get("fold", 0), images=uses_image)
        probabilities = _serve_frame(serve, frame, uses_image, batch_size, len(meta["class_names"]))
        return {"examples": len(frame), "metrics": score(data, frame, probabilities)}

    def _evaluate_test(self, serve, saved_model, meta, data_dir, batch_size, output):
        """Memotion's official test release: every meme predicted (one whose image
        is missing or unreadable from a black picture, counted, as the official
        scorer counts all of them), the predictions written in the task's answer
        format, and with the gold labels the task's metrics."""
        import os

        from memotion_tf.datasets.common import check_images
        from memotion_tf.datasets.memotion7k import read_memotion7k_test, submission_lines
        from memotion_tf.io import atomic_write_text

        test = read_memotion7k_test(data_dir, task=meta["task"], text_field=meta["text_field"])
        frame, uses_image, replaced = test.frame, "image" in meta["modalities"], 0
        if uses_image:
            frame, report = check_images(frame, progress=False, required=False)
            replaced = int((~frame["image_ok"]).sum())
            if replaced:
                log.warning("%d of %d test memes have no usable image: predicted from a black picture so that "
                            "every meme is scored (%s)", replaced, len(frame), report.summary().splitlines()[0])
        heads = task_heads(meta["task"])
        probabilities = _serve_frame(serve, frame, uses_image, batch_size, len(meta["class_names"]),
                                     image_size=meta.get("image_size") or 64)
        from memotion_tf.models.multi_head import head_predictions

        predictions = head_predictions(probabilities, heads)
        answer = output or os.path.join(os.path.dirname(os.path.abspath(saved_model)), "answer.txt")
        atomic_write_text(answer, "\n".join(submission_lines(meta["task"], predictions)) + "\n")
        log.info("predictions of the %d test memes written to %s (the task's answer format, A_BBBB_CCCC)",
                 len(frame), answer)
        report = {"examples": len(frame), "images_replaced": replaced, "answer_file": answer,
                  "gold_file": test.gold_file}
        if test.gold_file is None:
            report["metrics"] = {}
            report["note"] = (f"no gold labels in {data_dir} (Meme_groundTruth.csv): predictions written to "
                              f"{answer} in the task's answer format, no metrics")
        else:
            data = PreparedData(frame, test.class_names, [], None, data_dir, False, heads)
            report["metrics"] = score(data, frame, probabilities)
        return report


def _serve_frame(serve, frame, uses_image, batch_size, num_outputs, image_size=64):
    """The SavedModel's probabilities for the memes of `frame`, `batch_size` at a time
    (rows with `image_ok` False get a black picture)."""
    black = None
    probabilities = []
    for start in range(0, len(frame), batch_size):
        chunk = frame.iloc[start:start + batch_size]
        images = []
        for i, path in enumerate(chunk["image_path"]):
            if not uses_image:
                images.append(b"")
            elif "image_ok" in chunk and not chunk["image_ok"].iloc[i]:
                if black is None:
                    import cv2

                    black = cv2.imencode(".png", np.zeros((image_size, image_size, 3), np.uint8))[1].tobytes()
                images.append(black)
            else:
                images.append(_read_bytes(path))
        out = serve(text=np.asarray(chunk["text"].astype(str), dtype=object), image=np.asarray(images, dtype=object))
        probabilities.append(out["probabilities"].numpy())
    return np.concatenate(probabilities) if probabilities else np.zeros((0, num_outputs))


def reads_images(config):
    from memotion_tf.models import MODELS

    return "image" in MODELS[config.model].modalities


def score(data, frame, probabilities):
    """The paper's metrics of `probabilities` on `frame`: macro F1 and accuracy
    (tasks B and C: the mean over the labels, with each label's own)."""
    from memotion_tf.evaluation.metrics import classification_metrics, multi_head_metrics

    if data.heads:
        return multi_head_metrics({name: frame[name].to_numpy() for name, _ in data.heads}, probabilities,
                                  data.heads)
    return classification_metrics(frame["label"].to_numpy(), np.asarray(probabilities).argmax(-1),
                                  len(data.class_names))


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()
