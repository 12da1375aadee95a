"""The one runner every paper goes through.

    reproduce(paper) -> configs -> strategy -> data (paper.prepare)
      -> for each row and seed: reuse the seed's record, or paper.train(...)
         under callbacks the runner owns (TensorBoard, a backup that resumes,
         the per-epoch history, the overall progress bar)
      -> export the first seed's model (SavedModel) -> record -> plots -> row
      -> trivial baselines -> results.json / results.md (+ provenance)

Resume: a finished seed is recorded in `<OUT>/<row>/runs/seed_<k>.json` and
reused while the row's config and the data are unchanged; an interrupted seed
continues from its last finished epoch (`<OUT>/<row>/backup/seed_<k>/`), which
is kept until the seed's SavedModel and record are final.

Only this module writes results.json / results.md; `memotion-tf train` merges its
row into what OUT already holds.
"""

import contextlib
import dataclasses
import functools
import json
import logging
import os
import shutil
import sys
import time

from memotion_tf import config as config_lib
from memotion_tf import paths
from memotion_tf.io import atomic_write_json, atomic_write_text
from memotion_tf.papers.base import same_training

log = logging.getLogger("memotion_tf")

STEPS_FOR_ESTIMATE = 20


# ------------------------------------------------------------------ output


def claim_output(out, paper):
    """Make `out` ready for a run before any training starts: refuse a file,
    or a non-empty folder that memotion-tf did not write (it never deletes
    what it did not create), and check that it is writable (`io.claim_output_dir`)."""
    from memotion_tf.io import claim_output_dir

    claim_output_dir(out, purpose=f"{paper} run")


# ---------------------------------------------------------------- progress


class Progress:
    """The whole run's progress over rows x seeds x epochs, logged at each
    epoch's end as a bar with the time left; after the first steps, an
    estimate of the whole run's time."""

    def __init__(self, total_epochs):
        self.total = max(int(total_epochs), 1)
        self.done = 0
        self.start = time.monotonic()
        self.estimated = False

    def skip(self, epochs):
        """Epochs of seeds reused from their records."""
        self.total = max(self.total - epochs, 1)

    def estimate_from_steps(self, seconds_per_step, steps_per_epoch):
        if self.estimated or not steps_per_epoch:
            return
        self.estimated = True
        left = seconds_per_step * steps_per_epoch * (self.total - self.done)
        log.info("estimated time for the %d epochs to train: %s (from the first %d steps)",
                 self.total - self.done, _duration(left), STEPS_FOR_ESTIMATE)

    def epoch_done(self):
        self.done = min(self.done + 1, self.total)
        elapsed = time.monotonic() - self.start
        left = elapsed / self.done * (self.total - self.done)
        width = 30
        filled = round(width * self.done / self.total)
        log.info("overall [%s%s] %d/%d epochs, %s elapsed, ~%s left", "#" * filled, "." * (width - filled),
                 self.done, self.total, _duration(elapsed), _duration(left))


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _callback_classes():
    import keras

    class ProgressCallback(keras.callbacks.Callback):
        def __init__(self, progress):
            super().__init__()
            self.progress = progress
            self.steps, self.first_step = 0, None

        def on_train_batch_end(self, batch, logs=None):
            if self.progress.estimated:
                return
            self.steps += 1
            if self.steps == 2:  # the first step includes tracing: time from the second on
                self.first_step = time.monotonic()
            elif self.first_step is not None and self.steps == STEPS_FOR_ESTIMATE + 2:
                per_step = (time.monotonic() - self.first_step) / STEPS_FOR_ESTIMATE
                self.progress.estimate_from_steps(per_step, (self.params or {}).get("steps"))

        def on_epoch_end(self, epoch, logs=None):
            self.progress.epoch_done()

    class HistoryBackup(keras.callbacks.Callback):
        """The per-epoch logs of every epoch trained so far, also those of a
        process killed earlier: saved beside the training backup each epoch."""

        def __init__(self, path):
            super().__init__()
            self.path = path
            self.history = {}
            if os.path.exists(path):
                with open(path) as f:
                    self.history = json.load(f)

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                values = self.history.setdefault(key, [])
                del values[epoch:]  # an epoch trained again after a resume replaces its entry
                values.append(float(value))
            atomic_write_json(self.path, self.history)

    return ProgressCallback, HistoryBackup


def _observe_callback(name, observers):
    import keras

    class Observe(keras.callbacks.Callback):
        """Hands the model to each observer when training starts (built and compiled)."""

        def on_train_begin(self, logs=None):
            for observer in observers:
                observer(name, self.model)

    return Observe()


@dataclasses.dataclass
class RunContext:
    """What `Paper.train` gets besides the data: the seed, the strategy, the
    row's folder, and the callbacks every training run carries.

    Attributes:
        seed: the run's seed.
        strategy: the tf.distribute strategy to build models under.
        folder: the row's folder under OUT (`export` paths are the runner's).
        backup_dir: this seed's scratch folder for whatever a resume needs;
            kept until the seed's record is written.
        verbose: Keras' verbosity for fit.
        observers: callables `observer(name, model)` called when each fit starts.
    """

    seed: int
    strategy: object
    folder: str
    backup_dir: str
    verbose: int
    progress: Progress
    observers: tuple = ()
    _histories: dict = dataclasses.field(default_factory=dict)

    def scratch(self, name):
        """A folder under this seed's backup for a paper's own resume state."""
        path = os.path.join(self.backup_dir, name)
        os.makedirs(path, exist_ok=True)
        return path

    def initial_epoch(self, name="model"):
        """Epochs of `name` finished before an interruption (0 for a fresh run)."""
        from memotion_tf.training.backup import METADATA_FILE, STATE_DIR

        path = os.path.join(self.backup_dir, name, "backup", STATE_DIR, METADATA_FILE)
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return int(json.load(f).get("epoch", 0))

    def callbacks(self, name="model", before=()):
        """Callbacks for one `fit` (`name` tells several fits of a seed apart):
        `before` (e.g. a callback that adds the paper's metric to the logs),
        the history kept across resumes, TensorBoard under
        `<row>/tensorboard/seed_<k>[/name]`, the atomic backup, the progress bar."""
        import keras

        from memotion_tf.training.backup import AtomicBackupAndRestore

        progress_class, history_class = _callback_classes()
        scratch = self.scratch(name)
        history = history_class(os.path.join(scratch, "history.json"))
        self._histories[name] = history
        log_dir = os.path.join(self.folder, "tensorboard", f"seed_{self.seed}")
        if name != "model":
            log_dir = os.path.join(log_dir, name)
        observe = [_observe_callback(name, self.observers)] if self.observers else []
        return [*before, *observe, history,
                keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False),
                AtomicBackupAndRestore(os.path.join(scratch, "backup"), delete_checkpoint=False),
                progress_class(self.progress)]

    def history(self, name="model"):
        """Every epoch's logs of fit `name`, across resumes."""
        callback = self._histories.get(name)
        return dict(callback.history) if callback else {}


# ------------------------------------------------------------------ runner


def _verbose(verbose):
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def _load_record(path, signature):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        record = json.load(f)
    return record if same_training(record.get("signature"), signature) else None


def keep_backup_of(backup_dir, signature):
    """A seed's backup resumes only the training it was made for: one left by
    another config (or data) is removed before training starts. Papers whose
    rows train an extra model with its own backup (MAMI's CROM-AE) use it too.

    Only the process that owns `backup_dir` does this: a non-chief worker,
    whose writes go elsewhere (`io.write_path`), reads the chief's backup and
    must not remove it (it did, racing the chief's first write of
    signature.json, which then failed with "No such file or directory")."""
    from memotion_tf.io import write_path

    if os.path.abspath(write_path(backup_dir)) != os.path.abspath(backup_dir):
        return
    path = os.path.join(backup_dir, "signature.json")
    if os.path.isdir(backup_dir):
        saved = None
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
        if same_training(saved, signature):
            return
        log.info("removing the backup in %s: it was made for another config or data", backup_dir)
        shutil.rmtree(backup_dir, ignore_errors=True)
    os.makedirs(backup_dir, exist_ok=True)
    atomic_write_json(path, signature)


def _relative(path, out):
    return os.path.relpath(path, out) if path else None


def run_unit(paper, unit, data, out, strategy, progress, verbose, observers=()):
    """Every seed of one row: reuse or train, export the first, plot. Returns the row."""
    from memotion_tf.evaluation.metrics import summarize_runs
    from memotion_tf.training.precision import config_policy

    config = unit.config
    folder = os.path.join(out, unit.folder)
    saved_model = os.path.join(folder, "saved_model")
    seeds = list(range(unit.seeds if unit.seeds is not None else config.seeds))
    signature = paper.signature(unit, data)
    records, export_facts, wall = [], {}, 0.0
    for seed in seeds:
        record_path = os.path.join(folder, "runs", f"seed_{seed}.json")
        record = _load_record(record_path, signature)
        if record and (seed != seeds[0] or not record.get("exported", True) or os.path.exists(saved_model)):
            log.info("%s seed %d: finished before, reusing %s", unit.system, seed, record_path)
            progress.skip(paper.planned_epochs(unit))
            records.append(record)
            export_facts = record.get("export", export_facts) if seed == seeds[0] else export_facts
            wall += record.get("wall_time_s", 0.0)
            continue
        backup_dir = os.path.join(folder, "backup", f"seed_{seed}")
        keep_backup_of(backup_dir, signature)
        ctx = RunContext(seed=seed, strategy=strategy, folder=folder, backup_dir=backup_dir,
                         verbose=verbose, progress=progress,
                         observers=tuple(functools.partial(o, unit) for o in observers))
        log.info("%s: seed %d (%s)", unit.system, seed, _unit_plan(paper, unit))
        started = time.monotonic()
        # Every model of the row is built and trained under the row's dtype policy (`precision`).
        with config_policy(config):
            run = paper.train(unit, data, seed, ctx)
        log.info("%s seed %d: %s", unit.system, seed,
                 ", ".join(f"{k} {v:.4f}" for k, v in run.metrics.items() if isinstance(v, (int, float))))
        facts = {}
        if seed == seeds[0] and run.export is not None:
            facts = run.export(saved_model) or {}
            log.info("%s: SavedModel written to %s", unit.system, saved_model)
            export_facts = facts
        record = {"seed": seed, "signature": signature, "metrics": run.metrics, "history": run.history,
                  "wall_time_s": round(time.monotonic() - started, 1), "export": facts,
                  "exported": seed == seeds[0] and run.export is not None, **run.record}
        atomic_write_json(record_path, record)
        wall += record["wall_time_s"]
        # The backup is kept until the SavedModel and the record are final.
        shutil.rmtree(backup_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(backup_dir))
        records.append(record)

    exported = records[0].get("exported", True) and os.path.exists(saved_model)
    paper.plot_row(unit, data, records, folder)
    names = [m for m in records[0]["metrics"] if all(isinstance(r["metrics"].get(m), (int, float)) for r in records)]
    row = {
        "system": unit.system,
        **unit.key,
        "config": paths.relative_config(config.config_path),
        "seeds": [r["seed"] for r in records],
        "metrics": {m: summarize_runs([r["metrics"][m] for r in records]) for m in names},
        "paper": dict(unit.paper),
        "saved_model": _relative(saved_model, out) if exported else None,
        "wall_time_s": round(wall, 1),
        "notes": config.notes,
    }
    if export_facts:
        row["export"] = export_facts
    row.update(paper.row_extras(unit, data, records))
    return row


def _unit_plan(paper, unit):
    return f"{paper.planned_epochs(unit)} epochs" if paper.planned_epochs(unit) else "no training"


def _row_order(paper, configs):
    order = {paths.relative_config(p): i for i, p in enumerate(paper.config_paths())}
    return lambda row: (0 if not row.get("baseline") else 1, order.get(row["config"], len(order)))


def _merge(existing, results, paper):
    """`results` (one `train` run) merged into OUT's existing results: its rows
    replace those of the same system (and key), the others stay."""
    if existing.get("paper") != results["paper"]:
        raise config_lib.ConfigError(f"OUT holds results of paper {existing.get('paper')!r}, not "
                                     f"{results['paper']!r}; give --out another folder")
    old, new = existing.get("provenance", {}), results["provenance"]
    for key in ("profile", "data_fingerprint"):
        if old.get(key) != new.get(key):
            raise config_lib.ConfigError(
                f"OUT holds results with another {key.replace('_', ' ')} ({old.get(key)!r} vs {new.get(key)!r}); "
                "give --out another folder so the table does not mix them")
    identity = lambda row: (row["system"], row.get("ratio"))  # noqa: E731
    replaced = {identity(r) for r in results["rows"]}
    rows = [r for r in existing.get("rows", []) if identity(r) not in replaced] + results["rows"]
    merged = dict(existing, **{k: v for k, v in results.items() if k != "rows"})
    merged["rows"] = rows
    merged["provenance"] = dict(new, rows_merged_into=old.get("started"))
    return merged


def reproduce(paper, profile="quick", data_dir=None, out=None, seeds=None, systems=None, overrides=(),
              logical_cpus=None, verbose=None, config_files=None, merge=False, observers=()):
    """Train and score a paper's rows and write its results under `out`.

    Args:
        paper: `uor`, `cnhit`, `1213li`, `mami-ssl` or `bilimeme`.
        profile: `quick` (a 2-core CPU in minutes) or `paper` (the paper's protocol).
        data_dir: the dataset in its official layout; None: the embedded synthetic data.
        out: the output folder; default `runs/<paper>` of the working folder.
        seeds: runs per row, overriding the profile.
        systems: only these rows, by the paper's own names.
        overrides: `key=value` strings applied to every row's config.
        logical_cpus: split the CPU into N devices for MirroredStrategy.
        verbose: Keras' fit verbosity (default 1 on a terminal, else 2).
        config_files: train these config files instead of the paper's rows
            (`memotion-tf train --config`).
        merge: merge the rows into OUT's existing results instead of replacing them.
        observers: callables `observer(unit, name, model)`, each called when
            a `fit` of a row starts (`name` tells a seed's fits apart), with
            the compiled model; `make paper-check` measures the models there.

    Returns:
        The results (what results.json holds).
    """
    from memotion_tf import provenance
    from memotion_tf.papers import get_paper
    from memotion_tf.training.strategy import get_strategy, single_machine

    paper = get_paper(paper)
    configs = paper.load_configs(profile, overrides, files=config_files)
    configs = config_lib.select_systems(configs, systems, paper.name)
    if seeds is not None:
        configs = [c.replace(seeds=int(seeds)) for c in configs]
    if logical_cpus is not None:
        configs = [c.replace(logical_cpus=logical_cpus) for c in configs]
    out = os.fspath(out or paths.default_out(paper.name))
    claim_output(out, paper.name)
    started = provenance.now()
    # Logs the devices (`devices.log_devices`), and for the paper profile
    # without a GPU or TPU one warning line naming the CUDA extra.
    strategy = get_strategy(configs[0].logical_cpus, profile=profile)
    if not paper.distributed:
        single_machine(strategy, paper.title)
    devices = provenance.devices()
    data_path = paper.ensure_data(configs[0], data_dir)
    from memotion_tf.datasets import registry

    synthetic = registry.is_synthetic(data_path)
    data = paper.prepare(configs, data_path, synthetic)
    units = [u for c in configs for u in paper.units(c)]
    progress = Progress(sum(paper.planned_epochs(u) * (u.seeds if u.seeds is not None else u.config.seeds)
                            for u in units))
    verbose = _verbose(verbose)
    rows = [run_unit(paper, unit, data, out, strategy, progress, verbose, observers) for unit in units]
    baselines = paper.baselines(data, configs)
    results = {
        "paper": paper.name,
        "dataset": paper.dataset,
        "task": configs[0].task,
        "synthetic": synthetic,
        "profile": profile,
        "rows": rows,
        "baselines": baselines,
        "data": paper.data_summary(data),
        **paper.results_extras(data, configs),
        "provenance": provenance.collect(profile=profile, data_dir=data_path, synthetic=synthetic,
                                         devices=devices, started=started, rows=rows),
    }
    results_path = os.path.join(out, "results.json")
    if merge and os.path.exists(results_path):
        with open(results_path) as f:
            results = _merge(json.load(f), results, paper)
        results["rows"].sort(key=_row_order(paper, configs))
    write_results(out, results, paper.markdown(results))
    paper.plot_results(results, out)
    return results


def write_results(out, results, markdown):
    """results.json and results.md, each written atomically."""
    atomic_write_json(os.path.join(out, "results.json"), results)
    atomic_write_text(os.path.join(out, "results.md"), markdown)


def evaluate(saved_model, data_dir, split=None, batch_size=64, output=None):
    """The paper's metrics of an exported SavedModel on `split` of `data_dir`
    (default: the split the model's paper reports), from the SavedModel alone.
    `output`: where Memotion's test split writes its answer file (default:
    `answer.txt` beside the SavedModel)."""
    from memotion_tf.datasets.common import DataError
    from memotion_tf.export import load_exported
    from memotion_tf.papers import get_paper

    if not os.path.isdir(saved_model) or not os.path.exists(os.path.join(saved_model, "saved_model.pb")):
        raise DataError("not a SavedModel folder (no saved_model.pb)", file=saved_model)
    if not os.path.exists(data_dir):
        raise DataError("no such file or folder (--data-dir)", file=data_dir)
    serve, meta, _ = load_exported(saved_model)
    paper = get_paper(meta.get("paper") or "")
    chosen = paper.resolve_split(split, saved_model)
    report = paper.evaluate(saved_model, meta, data_dir, chosen, batch_size, output=output)
    return dict({"saved_model": saved_model, "system": meta.get("system"), "split": chosen}, **report)
