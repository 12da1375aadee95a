"""Experiment configs: TOML files under `configs/`, one per paper row.

A config file may name a `base` file (relative to itself) whose keys it
overrides, and a `[profile.<name>]` table whose keys apply when that profile
is selected (big_vision's `get_config(runlocal)`, as data). Command-line
`--set key=value` overrides are applied last and are parsed with the type of
the field they set; `model_args.<name>=value` sets one model argument.

Every key is a field of `ExperimentConfig` below, documented in its metadata;
an unknown key is an error that names the file. A field added later must
default to what training did before it existed: runs finished before the
field was added are then reused (`papers.base.same_training`).
"""

import ast
import dataclasses
import difflib
import os
import tomllib

PROFILES = ("quick", "paper")


def _field(default, doc, **kwargs):
    if isinstance(default, (dict, list)):
        return dataclasses.field(
            default_factory=lambda d=default: type(d)(d), metadata={"doc": doc}, **kwargs
        )
    return dataclasses.field(default=default, metadata={"doc": doc}, **kwargs)


@dataclasses.dataclass
class ExperimentConfig:
    """One row of a paper's table: what to train, on what, and how."""

    paper: str = _field("", "Paper key (`uor`, `cnhit`, ...); names the results folder.")
    system: str = _field("", "The paper's own row name, e.g. `LSTM-T+GMM`.")
    model: str = _field("", "Model registry name (see `memotion_tf.models.MODELS`).")
    model_args: dict = _field({}, "Keyword arguments for the model class (layer sizes, dropout).")
    dataset: str = _field("memotion7k", "Dataset name: `memotion7k`, `mami`, `semeval21_task6`, `danmu`.")
    task: str = _field("A", "Dataset task; Memotion: `A` (3-class sentiment), `B`, `C`.")
    text_field: str = _field("text_corrected", "CSV column holding the meme text.")
    duplicates: str = _field("error", "The same image listed twice with conflicting labels: `error` (stop, naming "
                             "the image and its rows), `skip` (drop every copy, counted and reported) or `keep`.")
    max_length: int = _field(192, "Token sequence length after padding/truncation (UoR: 192).")
    image_size: int = _field(128, "Square image side in pixels after resizing (UoR: 128).")
    batch_size: int = _field(32, "Batch size per replica; the global batch is this times the replicas.")
    epochs: int = _field(20, "Training epochs.")
    learning_rate: float = _field(1e-3, "Adam learning rate (Keras default for UoR's `adam`).")
    pretrained_learning_rate: float = _field(0.0, "Learning rate of the pretrained text backbone (a `preset`) when "
                                             "it differs from the rest of the model, e.g. a fusion model whose "
                                             "image network trains from scratch; 0: `learning_rate` everywhere.")
    seeds: int = _field(5, "Number of seeded runs per system; reported as mean/std/min/max.")
    val_fraction: float = _field(0.2, "Fraction of the labelled memes held out for validation.")
    split_seed: int = _field(0, "Seed of the stratified hold-out split (fixed across runs).")
    train_subsample: int = _field(0, "Train on a stratified subsample of this many memes of the training split, drawn "
                                  "with `split_seed` (0: all of it); the validation split stays whole. The quick "
                                  "profile uses it where a full epoch on a CPU takes too long.")
    gmm: bool = _field(False, "Oversample minority classes with a Gaussian mixture (UoR Algorithm 2).")
    gmm_components: int = _field(1, "Mixture components per minority class.")
    gmm_covariance: str = _field("full", "`covariance_type` of sklearn's GaussianMixture.")
    preset: str = _field("", "Pretrained keras-hub preset of the text backbone (`bert_base_en_uncased`, "
                         "`roberta_base_en`, ...), `all_minilm_l6_v2` for the embedded offline BERT, "
                         "or empty for a randomly initialised backbone sized by `model_args`.")
    backbone_args: dict = _field({}, "Size of the randomly initialised text backbone used when `preset` is empty "
                                 "(e.g. `{num_layers = 1, hidden_dim = 16}`; keras-hub BertBackbone arguments); "
                                 "rows without a text backbone ignore it.")
    random_init: bool = _field(False, "Build the `preset`'s architecture at full size with random weights, offline "
                               "(`models.pretrained.PAPER_ARCHITECTURES`; the tokenizer has the preset's class and "
                               "vocabulary size, not its learned entries) instead of downloading its weights: for "
                               "checking the paper profile's models and pipeline without the weights (`make "
                               "paper-check`); the numbers it gives mean nothing.")
    text_cleaning: bool = _field(False, "Train on CN-HIT-MI.T's cleaned text (section 4.2); evaluation and serving always see the raw text.")
    image_weights: str = _field("", "`weights=` of keras.applications image backbones: `imagenet`, or empty for random init.")
    loss: str = _field("categorical_crossentropy", "Training loss: `categorical_crossentropy`, `tsa` (Training "
                       "Signal Annealing), `tsa_kl` (TSA plus the clean/raw KL term), `binary_crossentropy`, ...")
    loss_args: dict = _field({}, "Keyword arguments of the loss, e.g. `schedule = \"log\"` for TSA.")
    lr_schedule: str = _field("constant", "Learning-rate schedule: `constant`, or `warmup_cosine` (linear warm-up, then cosine annealing).")
    warmup_fraction: float = _field(0.1, "Fraction of the training steps spent warming up (`warmup_cosine`).")
    lr_scaling: str = _field("linear", "How `learning_rate` follows the replicas: `linear` multiplies it by their number, "
                             "as the global batch is `batch_size` times their number (Goyal et al., 2017); `none` keeps it.")
    augment: str = _field("", "Image augmentation inside tf.data: empty, or `randaugment`.")
    augment_args: dict = _field({}, "Keyword arguments of the augmentation, e.g. `num_ops`, `magnitude` for RandAugment.")
    folds: int = _field(0, "k-fold cross-validation: 0 uses the single stratified hold-out; k > 1 reports the mean over folds (one run per fold and seed).")
    protocol: dict = _field({}, "Paper-specific protocol settings that no other key covers (ensemble size, "
                            "label ratio, prompt templates, ...); each paper's configs document theirs.")
    synthetic_size: int = _field(6992, "Memes in the embedded synthetic data set when no DATA_DIR is given.")
    data_source: str = _field("files", "Where the records come from: `files` (the dataset folder, read directly) or "
                              "`tfds` (the dataset's TFDS builder, prepared from that folder on first use; the same "
                              "records, see `datasets/tfds_builders.py`).")
    tfds_data_dir: str = _field("", "Where TFDS keeps prepared datasets when `data_source = \"tfds\"`; empty: TFDS's "
                                "default (`$TFDS_DATA_DIR`, else `~/tensorflow_datasets`).")
    precision: str = _field("float32", "Dtype policy of training: `auto` (`mixed_bfloat16` on TPUs and GPUs of compute "
                            "capability >= 8.0, `mixed_float16` on older GPUs, `float32` on the CPU), or a Keras policy "
                            "name: `float32`, `mixed_float16`, `mixed_bfloat16`. Output layers stay float32.")
    jit_compile: str = _field("false", "XLA compilation of the training step: `auto` (on with an accelerator, one replica "
                              "per machine and layers that support it), `true` or `false`.")
    run_eagerly: bool = _field(False, "Run each training step op by op (Keras' `run_eagerly`) instead of tracing it "
                               "into a graph first: for debugging, and for `make paper-check`, whose single step "
                               "of a full-size model takes far longer to trace than to run. Off for real runs; "
                               "it turns XLA off. `Model.fit` only: across machines the training loop of "
                               "`training/loop.py` traces its step regardless.")
    accumulation_steps: int = _field(1, "Gradient accumulation: split each batch of `batch_size` into this many "
                                     "micro-batches and apply their mean gradient once (the same update, less "
                                     "memory); 1: none; 0: the fewest steps that fit the accelerator's memory, from "
                                     "`training.memory`'s estimate (1 on the CPU).")
    logical_cpus: int = _field(0, "Split the CPU into this many logical devices (0: off) to exercise MirroredStrategy.")
    paper_metrics: dict = _field({}, "The paper's reported numbers for this row, printed beside ours.")
    notes: str = _field("", "What this row simplifies or chooses where the paper is vague.")
    config_path: str = _field("", "Path of the file this config was read from (set by the loader).")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


class ConfigError(ValueError):
    pass


def unknown_key_message(keys, known):
    """"'epoch' (did you mean 'epochs'?)" for each unknown key."""
    parts = []
    for key in keys:
        close = difflib.get_close_matches(key, list(known), n=1)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(parts)


def _merge(base, override):
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path, seen=()):
    path = os.path.abspath(path)
    if path in seen:
        raise ConfigError(f"{path}: `base` files form a cycle")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    base = data.pop("base", None)
    if base:
        parent = _read_toml(os.path.join(os.path.dirname(path), base), seen + (path,))
        data = _merge(parent, data)
    return data


def _parse_value(raw, current, key):
    if isinstance(current, bool):
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise ConfigError(f"--set {key}={raw}: expected true or false")
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        try:
            return type(current)(ast.literal_eval(raw))
        except (ValueError, SyntaxError):
            raise ConfigError(f"--set {key}={raw}: expected a {type(current).__name__}") from None
    if isinstance(current, str):
        return raw
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def select_systems(configs, systems, paper):
    """The configs of the named table rows (all when `systems` is empty), in
    table order; an unknown name is an error that lists the known ones."""
    if not systems:
        return list(configs)
    unknown = set(systems) - {c.system for c in configs}
    if unknown:
        raise ConfigError(f"unknown system(s) {sorted(unknown)} for paper {paper!r}; "
                          f"known: {[c.system for c in configs]}")
    return [c for c in configs if c.system in systems]


def load_config(path, profile="quick", overrides=()):
    """Read a config file for `profile`, then apply `key=value` overrides."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    data = _read_toml(path)
    profiles = data.pop("profile", {})
    data = _merge(data, profiles.get(profile, {}))
    fields = {f.name: f for f in dataclasses.fields(ExperimentConfig)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown config key(s) {unknown_key_message(unknown, fields)}")
    config = ExperimentConfig(**data, config_path=os.fspath(path))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value")
        top, _, sub = key.partition(".")
        if top not in fields:
            raise ConfigError(f"--set {key}: unknown config key {unknown_key_message([top], fields)}")
        if sub and not isinstance(getattr(config, top), dict):
            raise ConfigError(f"--set {key}: `{top}` is not a table, so `{top}.{sub}` means nothing")
        if sub:
            table = dict(getattr(config, top))
            table[sub] = _parse_value(raw, table.get(sub), key)
            config = config.replace(**{top: table})
        else:
            config = config.replace(**{top: _parse_value(raw, getattr(config, top), key)})
    return config


def reference_markdown():
    """The config reference, generated from the field definitions above."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(ExperimentConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"| `{f.name}` | `{default!r}` | {f.metadata['doc']} |")
    return "\n".join(lines) + "\n"


REFERENCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "README.md")
REFERENCE_HEADER = """# Config reference

Generated from `memotion_tf/config.py` by `python -m memotion_tf.config`; a test
fails when this file is out of date. Config files are TOML: `base = "file.toml"`
inherits another file, `[profile.quick]` / `[profile.paper]` tables override keys
per profile, `[model_args]` holds the model's layer sizes and `[paper_metrics]`
the paper's numbers. On the command line, `--set key=value` (and
`--set model_args.name=value`) overrides any key.

"""


def reference_document():
    return REFERENCE_HEADER + reference_markdown()


if __name__ == "__main__":
    from memotion_tf.io import atomic_write_text

    atomic_write_text(REFERENCE_PATH, reference_document())
    print(f"wrote {REFERENCE_PATH}")
