"""The protocol every paper implements, and what a run hands back to the runner.

A paper says what is particular to it: its data (read, check, synthesise, via
`datasets.registry`), its rows (config files in table order), how to train one
row for one seed (`train`), how to score a SavedModel (`evaluate`), and its
table and notes. Everything else (seeds, resume, results.json / results.md,
plots, export, TensorBoard, progress, provenance) is the runner's
(`memotion_tf.runner`), the same for every paper:

    runner: configs -> paper.prepare(data) -> for each paper.units(config):
              for each seed: [reuse the seed's record] or paper.train(unit, data, seed, ctx)
                             -> export the first seed's model -> record
              -> plots -> row
            -> paper.baselines(data) -> results.json / results.md (paper.markdown)

The CLI and the Python API look a paper up by name (`papers.get_paper`) and never
branch on it.
"""

import dataclasses
import difflib
import inspect
import logging
import os

from memotion_tf import config as config_lib
from memotion_tf import paths

log = logging.getLogger("memotion_tf")


@dataclasses.dataclass
class Unit:
    """One row of a paper's table.

    Args:
        config: the row's `ExperimentConfig`.
        system: the row's name in the table (the paper's own).
        folder: its folder under OUT.
        key: what tells this row apart from others of the same config (MAMI's
            label ratio), written into the row and the resume signature.
        paper: the paper's numbers for this row.
        seeds: how many runs the row gets (`config.seeds` unless the row is
            one run by nature, e.g. an ensemble).
    """

    config: config_lib.ExperimentConfig
    system: str
    folder: str
    key: dict = dataclasses.field(default_factory=dict)
    paper: dict = dataclasses.field(default_factory=dict)
    seeds: int = None


@dataclasses.dataclass
class Run:
    """What `Paper.train` returns for one seed.

    Args:
        metrics: the paper's metrics on its evaluation split (`{"macro_f1": 0.3, ...}`).
        history: per-epoch logs (`{"loss": [...], "val_macro_f1": [...]}`); the
            context's `history` holds them across a resume.
        export: `export(path) -> dict` writes the run's SavedModel at `path`
            (atomically) and returns facts for the row (e.g. an export check);
            called for the first seed of a row.
        record: JSON-serialisable extras kept in the seed's record (e.g. the
            predictions the plots need, the best epoch).
    """

    metrics: dict
    history: dict = dataclasses.field(default_factory=dict)
    export: object = None
    record: dict = dataclasses.field(default_factory=dict)


class Paper:
    """Base class of the five reproductions. Subclasses set the class
    attributes and implement `prepare`, `train` and `evaluate`.

    Attributes:
        name: the CLI name (`uor`, `cnhit`, `1213li`, `mami-ssl`, `bilimeme`).
        title: the results table's heading.
        reference: the paper, by title, venue and public id.
        dataset: the `datasets.registry` name it reads.
        config_files: its rows, relative to `configs/`, in table order.
        evaluation_split: the split its table reports (`evaluate`'s default).
        splits: the splits `evaluate` accepts.
        split_aliases: other names users may give a split (`{"val": "dev"}`).
        paper_columns / metric_columns: `(key, header)` of the paper's numbers
            and of ours, for the table.
        primary_metric: the paper's metric: the one curves and logs follow.
        protocol_keys: `{key: meaning}` of the config's `protocol` table that
            this paper reads; any other key is an error.
        notes: lines printed under the table.
        pipeline / notebook: where a newcomer reads the whole reproduction.
    """

    name = ""
    title = ""
    reference = ""
    dataset = ""
    config_files = ()
    evaluation_split = "val"
    splits = ("val", "train", "all")
    split_aliases = {}
    paper_columns = ()
    metric_columns = ()
    primary_metric = "macro_f1"
    protocol_keys = {}
    notes = ()
    distributed = True  # trains across several workers (MultiWorkerMirroredStrategy)

    # ------------------------------------------------------------- configs

    def config_paths(self):
        return [paths.config_path(c) for c in self.config_files]

    def load_configs(self, profile="quick", overrides=(), files=None):
        """The rows' configs (all, or those of `files`), checked.

        `overrides` apply to every row, except `model_args.<name>=...`, which
        applies to the rows whose model takes `<name>` (a ResNet depth is not a
        BERT argument); a name no row's model takes is an error."""
        files = files or self.config_paths()
        model_overrides = [o for o in overrides if o.startswith("model_args.")]
        others = [o for o in overrides if not o.startswith("model_args.")]
        configs = [config_lib.load_config(p, profile, others) for p in files]
        if model_overrides:
            accepted_by_any, known = set(), set()
            for i, (path, config) in enumerate(zip(files, configs)):
                takes = set(self.model_arguments(config))
                known |= takes
                mine = [o for o in model_overrides if o.partition("=")[0].split(".", 1)[1] in takes]
                accepted_by_any |= {o.partition("=")[0] for o in mine}
                if mine:
                    configs[i] = config_lib.load_config(path, profile, others + mine)
            rejected = [o.partition("=")[0].split(".", 1)[1] for o in model_overrides
                        if o.partition("=")[0] not in accepted_by_any]
            if rejected:
                raise config_lib.ConfigError(
                    f"--set: no row of {self.name} takes model_args "
                    f"{config_lib.unknown_key_message(rejected, known)}; known: {', '.join(sorted(known))}")
        for config in configs:
            if config.paper != self.name:
                raise config_lib.ConfigError(f"{config.config_path}: paper = {config.paper!r}, not {self.name!r}")
            self.check_config(config)
        return configs

    def check_config(self, config):
        """Errors that name the config file before anything trains: unknown
        `protocol` keys and model arguments (with a did-you-mean)."""
        check_keys(config, "protocol", config.protocol, self.protocol_keys)
        if config.model:
            from memotion_tf.models import MODELS

            if config.model not in MODELS:
                check_keys(config, "model", {config.model: None}, MODELS)
            check_keys(config, "model_args", config.model_args, self.model_arguments(config))

    def model_arguments(self, config):
        """The `model_args` a row's model takes (its class's constructor arguments)."""
        from memotion_tf.models import MODELS

        cls = MODELS.get(config.model)
        return constructor_arguments(cls) if cls is not None else {}

    # ---------------------------------------------------------------- data

    def synthetic_key(self, config):
        """What names the embedded synthetic copy (its size)."""
        return f"n{config.synthetic_size}-s0"

    def synthetic_size(self, config):
        return config.synthetic_size

    def ensure_data(self, config, data_dir=None):
        """`data_dir`, or the embedded synthetic copy (written once under the user cache)."""
        from memotion_tf.datasets import registry

        if data_dir:
            from memotion_tf.datasets.common import DataError

            if not os.path.exists(data_dir):
                raise DataError("no such file or folder (--data-dir)", file=data_dir)
            return os.fspath(data_dir)
        return registry.ensure_synthetic(self.dataset, self.synthetic_size(config), key=self.synthetic_key(config))

    def prepare(self, configs, data_dir, synthetic):
        """Read, validate and split the data once for every row (and compute
        what rows share, e.g. frozen features). Returns any object `train` takes."""
        raise NotImplementedError

    def data_summary(self, data):
        """JSON facts about the prepared data for results.json (sizes, skips)."""
        return {}

    # ---------------------------------------------------------------- rows

    def units(self, config):
        """The table rows one config gives (one, except MAMI's label ratios)."""
        return [Unit(config, config.system, slug(config.system), paper=dict(config.paper_metrics))]

    def planned_epochs(self, unit):
        """Epochs one seed of `unit` trains, for the progress bar."""
        return unit.config.epochs

    def signature(self, unit, data):
        """What a finished seed depends on; a record with another signature is trained again."""
        return dict(config_signature(unit.config), key=unit.key)

    def train(self, unit, data, seed, ctx):
        """Train one seed of `unit` and score it: a `Run`."""
        raise NotImplementedError

    def plot_row(self, unit, data, records, folder):
        """Pictures of a finished row (confusion matrix, curves) under `folder`."""

    def row_extras(self, unit, data, records):
        """Extra facts for the row in results.json."""
        return {}

    def baselines(self, data, configs):
        """Trivial baselines (majority class, k most frequent labels) on the
        evaluation split, computed by the same metric code: rows for the table."""
        return []

    # ------------------------------------------------------------- results

    def results_extras(self, data, configs):
        """Extra top-level facts for results.json (leaderboards, feature caches)."""
        return {}

    def markdown(self, results):
        """results.md: the table(s), ours beside the paper's."""
        from memotion_tf.evaluation.report import results_markdown

        return results_markdown(results, self)

    def plot_results(self, results, out_dir):
        """Pictures of the whole table (optional)."""

    # ---------------------------------------------------------- evaluation

    def resolve_split(self, split, saved_model=""):
        chosen = self.split_aliases.get(split, split) or self.evaluation_split
        if chosen not in self.splits:
            raise config_lib.ConfigError(f"{saved_model}: a {self.name} model is evaluated on split "
                                         f"{' | '.join(self.splits)}, not {split!r}")
        return chosen

    def evaluate(self, saved_model, meta, data_dir, split, batch_size=64, output=None):
        """The paper's metrics of an exported SavedModel on `split` of `data_dir`,
        computed from the SavedModel alone (raw text and image bytes in)."""
        raise NotImplementedError


def slug(system):
    """A row name as a folder name (`LSTM-T+GMM` stays, `+ full att` -> `_full_att`)."""
    import re

    return re.sub(r"[^A-Za-z0-9.+-]+", "_", system)


def config_signature(config):
    """A config's fields that change what training produces."""
    keep = dataclasses.asdict(config)
    # Descriptive keys, and where the records come from (tests/test_tfds_builders.py: the same records);
    # run_eagerly: an eager step trains to the weights the traced one does (tests/test_precision.py).
    for key in ("paper_metrics", "notes", "config_path", "seeds", "logical_cpus", "data_source", "tfds_data_dir",
                "system", "run_eagerly"):
        keep.pop(key, None)
    return keep


def same_training(saved, current):
    """Whether a finished seed (or a backup) recorded under `saved` is what `current` would train.

    Equal signatures match. So does one written before a config field existed: a field that `saved`
    lacks matches when `current` holds it at its default, because a new field's default keeps what
    training did before it (`precision = "float32"`, `accumulation_steps = 1`, `train_subsample = 0`,
    ...). Without this, every finished seed of a run was trained again after an upgrade that added a
    field. Any other difference, a field `current` lacks included, trains again."""
    if saved == current:
        return True
    if not isinstance(saved, dict) or not isinstance(current, dict):
        return False
    defaults = config_signature(config_lib.ExperimentConfig())
    for key in set(saved) | set(current):
        if key in saved and key in current:
            if saved[key] != current[key]:
                return False
        elif key not in current or key not in defaults or current[key] != defaults[key]:
            return False
    return True


def constructor_arguments(cls):
    """The keyword arguments `cls(...)` names (Keras' own `**kwargs` excluded)."""
    names = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        names[name] = None
    return names


def check_keys(config, table, given, known):
    """An unknown key of `table` is an error naming the config file, with a did-you-mean."""
    unknown = [k for k in given if k not in known]
    if not unknown:
        return
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(known), n=1)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    where = config.config_path or config.system or "config"
    known_list = ", ".join(sorted(known)) if known else "none"
    raise config_lib.ConfigError(f"{where}: unknown {table} key(s) {', '.join(parts)}; known: {known_list}")
