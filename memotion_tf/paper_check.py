"""`make paper-check`: every row of the paper profile, at full size, before a GPU run of hours.

For each paper and each row of its table, through the code a reproduction
runs (`runner.reproduce(paper, profile="paper")`):

- the row's model at its real size and architecture, with random weights and
  offline (`random_init = true`: `models.pretrained.PAPER_ARCHITECTURES`;
  `image_weights = ""`), so nothing is downloaded;
- one epoch on a tiny synthetic copy of the paper's dataset in the official
  layout (`datasets.registry.synthesize`, a few memes per split), its steps
  run eagerly (`run_eagerly = true`: tracing a full-size training step into a
  graph takes several times as long as the step; the graph of the forward pass
  and gradients at full size is still built, by the memory estimate below);
- the row's export (its SavedModel), reloaded with `tf.saved_model.load`
  and called once on two memes;
- its parameter count, and the accelerator memory of one training step at
  the paper's batch size (`training.memory.estimate_memory`, traced, nothing
  allocated), whether that fits a 16 GB GPU and, if not, the gradient
  accumulation steps that would (`accumulation_steps`).

Each row runs in its own process (a process's memory is returned to the
system when it ends, so the check needs the largest row's memory, not the
sum of a paper's rows), and the table gives the peak resident memory of each
row. A paper's rows run in table order; with `--jobs 2` (the default on 2
cores or more) a row of another paper runs beside, where the rows' measured
memory fits what the machine has available.

    python -m memotion_tf.paper_check                 # every paper
    python -m memotion_tf.paper_check --paper uor     # one paper
    python -m memotion_tf.paper_check --paper uor --systems LSTM-T --set max_length=32
    python -m memotion_tf.paper_check --jobs 2        # two rows at once, memory allowing
    python -m memotion_tf.paper_check --rows architectures   # every model class at full size, once

The memory column is the model as trained in this check: float32 on a CPU.
With `precision = "auto"` a GPU trains in mixed precision, whose activations
take about half: the column is the conservative figure.
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

log = logging.getLogger("memotion_tf")

PAPERS = ("uor", "cnhit", "1213li", "mami-ssl", "bilimeme")
GPU_MEMORY_GB = 16
# Memes of each tiny synthetic copy: enough for every class in each split
# (and each fold), few enough that an epoch of a full-size model is one or two steps.
TINY_SIZES = {"memotion7k": 20, "mami": 24, "semeval21_task6": 24, "danmu": 60}
# What every row gets on top of its paper profile: one epoch, one seed,
# the presets' architectures with random weights, no image weights to download.
# The step runs eagerly: traced, one step of BERT-base took 57 s here, 40 of them building the graph
# (the optimizer's per-variable updates alone 19 s); eagerly 16 s. The graph of the same forward pass
# and gradients at full size is still built, by the memory estimate, and the serving graph by the export.
CHECK_OVERRIDES = ("epochs=1", "random_init=true", "image_weights=", "run_eagerly=true")
# Per paper: 1213Li's ensemble members are its "+ full att" model five times;
# two members exercise the ensemble (training, averaging, export) as five do.
# CN-HIT's eager step trains on 4 of the tiny set's training memes (one of each class at least): on
# all 12, its two-view BERT+TSA+KL step peaked at 22.0 GiB of RAM eagerly (11.7 traced), on 4 at 6.9.
PAPER_OVERRIDES = {"1213li": ("protocol.ensemble_size=2", "protocol.resplit_dev_size=8"),
                   "cnhit": ("train_subsample=4",)}
# `--rows architectures` (what `.ci/run` checks when the stages before it ran slow; about half the
# time of all 30 rows): per paper, rows that together build every model class of its table at full
# size, each with every pretrained preset and image depth it is built with (`architecture`;
# tests/test_paper_check.py keeps this list covering them), preferring the row that also runs the
# paper's extra training paths (TSA, RandAugment, the two-view KL loss, CROM-AE encoders, soft
# prompts). UoR's rows are small: all.
ARCHITECTURE_ROWS = {
    "cnhit": ("HFM", "TFNet+TSA", "ResNet+TSA+RA", "BERT+TSA+KL"),
    "1213li": ("+ full att",),
    "mami-ssl": ("Ours",),
    "bilimeme": ("Linear baseline", "Chinese BERT", "Prompt tuning"),
}


def write_tiny_data(dataset, out, size=None):
    """A tiny synthetic copy of `dataset` in its official layout at `out`."""
    from memotion_tf.datasets import registry

    registry.synthesize(dataset, out, size or TINY_SIZES[dataset], seed=0)
    return out


def _free_models():
    """Drop what the last row built: Keras' global state and Python's cycles."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


def _serving_inputs(count=2):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    image = tf.io.encode_png(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).numpy()
    texts = ["when the code runs on the first try", "弹幕 好 好笑"][:count]
    return tf.constant(texts), tf.constant([image] * count)


def call_saved_model(path):
    """Reload a SavedModel with `tf.saved_model.load`, call its serving
    signature on two memes; returns (parameters it holds, outputs).
    Raises AssertionError when the outputs are not one row of finite
    probabilities per meme."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (keras-hub tokenisers' ops)

    from memotion_tf.export import SIGNATURE

    loaded = tf.saved_model.load(path)
    text, image = _serving_inputs()
    outputs = loaded.signatures[SIGNATURE](text=text, image=image)
    probabilities = outputs["probabilities"].numpy()
    errors = [e.decode() for e in outputs["error"].numpy()]
    if probabilities.shape[0] != 2 or any(errors) or not np.all(np.isfinite(probabilities)):
        raise AssertionError(f"{path}: the SavedModel's outputs are wrong: probabilities {probabilities.shape}, "
                             f"errors {errors}")
    # Each variable once (restored variables' names need not be unique).
    unique = {id(v): v for v in getattr(loaded, "variables", ())}
    params = sum(int(np.prod(v.shape)) for v in unique.values())
    return params, outputs


def check_paper(name, work_dir, overrides=(), systems=None, capacity_gb=GPU_MEMORY_GB, merge=False):
    """Run `name`'s paper profile through the runner as the module docstring
    says; returns one dict per row (system, params, memory, fits, ...).

    `work_dir` holds the tiny data set and OUT; with `merge`, rows checked
    before in the same `work_dir` (by another process) stay in OUT, so that
    rows building on others find their records."""
    from memotion_tf import paths
    from memotion_tf.papers import get_paper

    paper = get_paper(name)
    # The feature caches of random-weight models stay in the check's own folder.
    previous_home = os.environ.get(paths.HOME_VARIABLE)
    os.environ[paths.HOME_VARIABLE] = os.path.join(work_dir, "home")
    try:
        return _check_paper(name, paper, work_dir, overrides, systems, capacity_gb, merge)
    finally:
        if previous_home is None:
            os.environ.pop(paths.HOME_VARIABLE, None)
        else:
            os.environ[paths.HOME_VARIABLE] = previous_home


def row_names(name, overrides=()):
    """The rows of `name`'s paper profile, in table order, as the check runs them."""
    from memotion_tf.papers import get_paper

    overrides = [*CHECK_OVERRIDES, *PAPER_OVERRIDES.get(name, ()), *overrides]
    return [c.system for c in get_paper(name).load_configs("paper", overrides)]


def architecture(config):
    """What a row builds at full size: its model class, its pretrained preset, its image depth."""
    return config.model, config.preset, config.model_args.get("depth")


def rows_to_check(name, rows="all", overrides=()):
    """The rows `--rows` selects of `name`'s paper, in table order."""
    names = row_names(name, overrides)
    if rows == "all" or name not in ARCHITECTURE_ROWS:
        return names
    return [n for n in names if n in ARCHITECTURE_ROWS[name]]


def _check_paper(name, paper, work_dir, overrides, systems, capacity_gb, merge=False):
    from memotion_tf import runner
    from memotion_tf.training import memory

    data_dir = os.path.join(work_dir, "data")
    if not os.path.isdir(data_dir):
        write_tiny_data(paper.dataset, data_dir)
    measured = {}

    def observe(unit, fit, model):
        # One entry per row: the largest training step among its fits.
        config = unit.config
        entry = measured.setdefault(unit.system, {"fits": []})
        try:
            estimate = memory.estimate_memory(model, config.batch_size, sequence_length=config.max_length,
                                              optimizer=model.optimizer)
        except Exception as e:  # noqa: BLE001  (reported in the table, the check goes on)
            entry["fits"].append({"fit": fit, "params": int(model.count_params()),
                                  "error": f"{type(e).__name__}: {e}"[:200]})
            return
        entry["fits"].append({"fit": fit, "params": int(model.count_params()), "batch_size": config.batch_size,
                              "bytes": estimate.total, "summary": estimate.summary(), "estimate": estimate})
        log.info("paper-check %s (%s): %s", unit.system, fit, estimate.summary())

    # Row by row, the models of one freed before the next is built (the
    # process's memory stays that of the largest row); rows that build on
    # others (MAMI-SSL's CROM-AE, 1213Li's ensemble) find their records in OUT.
    out = os.path.join(work_dir, "out")
    overrides = [*CHECK_OVERRIDES, *PAPER_OVERRIDES.get(name, ()), *overrides]
    names = systems or [c.system for c in paper.load_configs("paper", overrides)]
    started, times, served = time.monotonic(), {}, {}
    for i, system in enumerate(names):
        begun = time.monotonic()
        results = runner.reproduce(name, profile="paper", data_dir=data_dir, out=out, seeds=1, systems=[system],
                                   overrides=overrides, observers=[observe], verbose=0,
                                   merge=merge or i > 0)
        times[system] = round(time.monotonic() - begun, 1)
        _free_models()
        for row in results["rows"]:
            if row["system"] == system and row.get("saved_model") and not row.get("baseline"):
                path = os.path.join(out, row["saved_model"])
                params, _ = call_saved_model(path)
                served[(system, row.get("ratio"))] = params
                log.info("paper-check %s: the SavedModel reloaded and called (%s parameters), row %.0f s",
                         system, f"{params:,}", times[system])
                shutil.rmtree(path)  # checked: the disk need not hold every row's (CLIP's are 1.7 GB)
                _free_models()
    rows = []
    capacity = capacity_gb * memory.GiB
    for row in results["rows"]:
        if row.get("baseline") or row["system"] not in names:
            continue
        entry = {"paper": name, "system": row["system"], "key": {k: row[k] for k in ("ratio",) if k in row},
                 "row_time_s": times.get(row["system"])}
        if (row["system"], row.get("ratio")) in served:
            entry["saved_model_params"] = served[(row["system"], row.get("ratio"))]
        fits = [f for f in measured.get(row["system"], {}).get("fits", []) if "bytes" in f]
        errors = [f["error"] for f in measured.get(row["system"], {}).get("fits", []) if "error" in f]
        if fits:
            biggest = max(fits, key=lambda f: f["bytes"])
            entry.update(trained_params=biggest["params"], batch_size=biggest["batch_size"],
                         memory_bytes=biggest["bytes"],
                         memory_gib=round(biggest["bytes"] / memory.GiB, 2), summary=biggest["summary"],
                         fits_gpu=biggest["bytes"] <= capacity * memory.USABLE_FRACTION)
            try:
                entry["accumulation_steps"] = memory.accumulation_steps(biggest["estimate"], capacity)
            except ValueError:  # one example per step does not fit either
                entry["accumulation_steps"] = None
        if errors:
            entry["estimate_error"] = errors[0]
        rows.append(entry)
    return {"paper": name, "rows": rows, "wall_time_s": round(time.monotonic() - started, 1)}


# Peak resident memory (GiB) of each row's process, as measured by this check
# on this 2-core, 24 GiB machine (2026-11-29, 16:25-16:56 UTC, float32 on the
# CPU, steps run eagerly). Two rows run side by side only when their peaks,
# each with PEAK_MARGIN, fit the budget: the memory available when the check
# starts less RESERVE_GIB. A row not listed here takes the whole budget: it
# runs alone.
ROW_PEAK_GIB = {
    "uor": {"LSTM-T": 1.1, "LSTM-T+GMM": 1.1, "Conv1D-T": 1.0, "Conv1D-T+GMM": 1.0, "CNN-I": 1.1,
            "CNN-LSTM-TI": 1.2},
    "cnhit": {"HFM": 5.3, "TFNet": 4.8, "TFNet+TSA": 4.8, "ResNet": 2.8, "BERT": 3.4, "ResNet+TSA+RA": 2.9,
              "BERT+TSA+KL": 7.0},
    "1213li": {"RoBERTa+ResNet-50": 8.2, "+ visual att": 8.4, "+ textual att": 8.2, "+ full att": 8.2,
               "1213Li": 8.7},
    "mami-ssl": {"Ours": 5.0, "w/o CROM-AE encoders": 4.9, "w/o DB loss": 4.9,
                 "w/o DB loss + CROM-AE encoders": 4.9, "Supervised CLIP features (linear)": 4.9},
    "bilimeme": {"Linear baseline": 1.0, "Chinese BERT": 9.8, "Prompt 1: question": 7.7,
                 "Prompt 2: text classification": 7.7, "Prompt 3: danmu classification": 7.7,
                 "Prompt 4: internet meme classification": 7.7, "Prompt tuning": 15.1},
}
PEAK_MARGIN = 1.15
RESERVE_GIB = 2.0
# Seconds each paper's rows took one after another (2026-11-30, 03:40-04:21 UTC, the same
# machine): the paper with the most left goes first, so that the two lanes end together.
PAPER_SECONDS = {"uor": 83, "cnhit": 509, "1213li": 664, "mami-ssl": 445, "bilimeme": 725}


def available_memory_gib():
    """The memory the system can give new processes now, in GiB (Linux's
    MemAvailable; elsewhere the physical RAM)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 ** 2  # kB
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3
    except (ValueError, OSError, AttributeError):
        return 0.0


def default_jobs():
    """Rows at once by default: 2 (1 on one core), half the cores on 6 or
    more. A row keeps about one core busy (most of it is Python building graphs
    and running eager steps: 112% CPU over a whole check one by one), so on
    2 cores two rows side by side each took about the time it takes alone
    (2026-11-30: all 30 rows in 22 min 22 s, against 40 min 35 s one by one
    the same morning); the scheduler still runs a row alone where two would
    not fit in memory."""
    cores = os.cpu_count() or 1
    return 1 if cores < 2 else max(2, cores // 2)


def row_peak_gib(paper, system, budget_gib):
    """The memory the scheduler sets aside for a row: its measured peak with
    the margin, or the whole budget for a row never measured."""
    peak = ROW_PEAK_GIB.get(paper, {}).get(system)
    return budget_gib if peak is None else peak * PEAK_MARGIN


def pick_next(queues, running_papers, used_gib, budget_gib, seconds_left):
    """The paper whose next row starts now, or None: papers with rows left and
    none running (a paper's rows run in table order, later rows read earlier
    rows' records), the most seconds left first, whose next row fits beside
    the running ones (anything fits when nothing runs)."""
    waiting = [p for p in queues if queues[p] and p not in running_papers]
    for paper in sorted(waiting, key=lambda p: -seconds_left(p)):
        need = row_peak_gib(paper, queues[paper][0][1], budget_gib)
        if not running_papers or used_gib + need <= budget_gib:
            return paper
    return None


def _start_row(name, args, out_json, system, work_dir, merge, log_path=None):
    """`check_paper` of one row in a child process; its output goes to
    `log_path`, or to this process's own when None."""
    command = [sys.executable, "-m", "memotion_tf.paper_check", "--paper", name, "--json", out_json,
               "--capacity-gb", str(args.capacity_gb), "--work", work_dir, "--systems", system]
    for item in args.set:
        command += ["--set", item]
    if merge:
        command.append("--merge")
    if log_path is None:
        return subprocess.Popen(command)
    with open(log_path, "w") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def _tail(path, lines=60):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def run_rows(args, papers, work):
    """Every row of `papers`, each in its own process, up to `args.jobs` at
    once (rows of different papers, within the memory budget). Returns
    (reports in `papers` order, failed rows, peak RSS of any row)."""
    queues = {name: list(enumerate(args.systems or rows_to_check(name, args.rows, args.set))) for name in papers}
    totals = {name: max(len(queues[name]), 1) for name in papers}
    reports = {name: {"paper": name, "rows": [], "wall_time_s": 0.0, "peak_rss_gib": 0.0, "process_wall_s": 0.0}
               for name in papers}
    budget = max(available_memory_gib() - RESERVE_GIB, 1.0)  # what other programs use stays theirs
    count, done, failed, peak = sum(len(q) for q in queues.values()), 0, [], 0
    running, started = {}, time.monotonic()

    def seconds_left(paper):
        return PAPER_SECONDS.get(paper, 600) * len(queues[paper]) / totals[paper]

    while True:
        while len(running) < args.jobs:
            used = sum(r["need"] for r in running.values())
            name = pick_next(queues, {r["paper"] for r in running.values()}, used, budget, seconds_left)
            if name is None:
                break
            i, system = queues[name].pop(0)
            folder = os.path.join(work, name)
            os.makedirs(folder, exist_ok=True)
            # One row at a time: its log and progress bar go to the terminal as
            # they come; side by side, each row's to a file (shown if it fails).
            log_path = os.path.join(work, f"{name}-{i}.log") if args.jobs > 1 else None
            out_json = os.path.join(work, f"{name}-{i}.json")
            process = _start_row(name, args, out_json, system, folder, i > 0, log_path)
            running[process.pid] = {"paper": name, "system": system, "process": process, "begun": time.monotonic(),
                                    "log": log_path, "json": out_json, "need": row_peak_gib(name, system, budget)}
            log.info("paper-check %s / %s: started (%d running)", name, system, len(running))
        if not running:
            break
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        row = running.pop(pid)
        row["process"].returncode = os.waitstatus_to_exitcode(status)
        wall, rss = time.monotonic() - row["begun"], usage.ru_maxrss * 1024  # kilobytes on Linux
        done += 1
        name, report = row["paper"], reports[row["paper"]]
        one = None
        if row["process"].returncode == 0 and os.path.exists(row["json"]):
            with open(row["json"]) as f:
                one = json.load(f)
        log.info("paper-check %s / %s: %s in %.0f s, peak RSS %.1f GiB [%d/%d rows, %.0f s elapsed]", name,
                 row["system"], "ok" if one else "FAILED", wall, rss / 1024 ** 3, done, count,
                 time.monotonic() - started)
        report["process_wall_s"] = round(report["process_wall_s"] + wall, 1)
        report["peak_rss_gib"] = max(report["peak_rss_gib"], round(rss / 1024 ** 3, 2))
        peak = max(peak, rss)
        if one is None:
            failed.append(f"{name} / {row['system']} (exit code {row['process'].returncode})")
            if row["log"]:
                print(f"--- the last lines of {name} / {row['system']}'s log:\n{_tail(row['log'])}", file=sys.stderr)
            continue
        for entry in one["rows"]:
            entry["peak_rss_gib"] = round(rss / 1024 ** 3, 2)
        report["rows"] += one["rows"]
        report["wall_time_s"] += one["wall_time_s"]
    return [reports[name] for name in papers], failed, peak


def table(reports, capacity_gb=GPU_MEMORY_GB):
    """The check's table, as Markdown."""
    lines = [f"| paper | row | SavedModel parameters | trained parameters | train-step memory (GiB, batch) | "
             f"fits {capacity_gb} GB | accumulation steps | SavedModel | peak RSS here (GiB) |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | --- | ---: |"]
    for report in reports:
        for row in report["rows"]:
            system = row["system"] + (f" (ratio {row['key']['ratio']})" if row["key"].get("ratio") else "")
            memory_cell = (f"{row['memory_gib']:.2f} (batch {row['batch_size']})" if "memory_gib" in row
                           else ("n/a: " + row["estimate_error"] if "estimate_error" in row else "no training"))
            fits = {True: "yes", False: "no"}.get(row.get("fits_gpu"), "-")
            steps = row.get("accumulation_steps")
            steps_cell = "-" if "memory_gib" not in row else (str(steps) if steps else "does not fit")
            served = f"{row['saved_model_params']:,}" if "saved_model_params" in row else "-"
            trained = f"{row['trained_params']:,}" if "trained_params" in row else "-"
            lines.append(f"| {report['paper']} | {system} | {served} | {trained} | {memory_cell} | {fits} | {steps_cell} | "
                         f"{'loaded, called' if 'saved_model_params' in row else 'none'} | "
                         f"{row['peak_rss_gib'] if 'peak_rss_gib' in row else '-'} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m memotion_tf.paper_check", description=__doc__.split("\n")[0])
    parser.add_argument("--paper", choices=PAPERS, action="append",
                        help="check this paper (repeatable); default: every paper, each in its own process")
    parser.add_argument("--systems", nargs="+", help="only these rows (with one --paper)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every row (after the check's own)")
    parser.add_argument("--rows", choices=("all", "architectures"), default="all",
                        help="all: every row; architectures: rows that build every model class, preset and "
                             "image depth of each paper at full size (all of UoR's; .ci/run's fallback on a "
                             "slow machine)")
    parser.add_argument("--capacity-gb", type=float, default=GPU_MEMORY_GB, help="the GPU memory to compare with")
    parser.add_argument("--json", help="(internal) write one paper's report here instead of printing a table")
    parser.add_argument("--work", help="(internal, with --json) the paper's working folder, shared by its rows")
    parser.add_argument("--merge", action="store_true", help="(internal, with --json) keep earlier rows in OUT")
    parser.add_argument("--jobs", type=int, default=default_jobs(),
                        help="rows of different papers run side by side, memory allowing "
                             "(default: 2 on 2 to 5 cores, half the cores on more, 1 on one core; 1: one by one)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.json:
        if not args.paper or len(args.paper) != 1:
            parser.error("--json checks one --paper")
        if args.work:
            os.makedirs(args.work, exist_ok=True)
            report = check_paper(args.paper[0], args.work, overrides=args.set, systems=args.systems,
                                 capacity_gb=args.capacity_gb, merge=args.merge)
        else:
            with tempfile.TemporaryDirectory(prefix="paper-check-") as work:
                report = check_paper(args.paper[0], work, overrides=args.set, systems=args.systems,
                                     capacity_gb=args.capacity_gb)
        with open(args.json, "w") as f:
            json.dump(report, f)
        return 0
    if args.systems and len(args.paper or PAPERS) != 1:
        parser.error("--systems needs exactly one --paper")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="paper-check-") as work:
        # Each row in its own process: a process's memory goes back to the
        # system when it ends, so the peak is the largest rows', not the sum of
        # a paper's rows (what TensorFlow keeps of a full-size model after
        # clear_session adds up: CN-HIT's seven rows in one process peaked at
        # 23 GiB). With `--jobs` above 1, rows of different papers run side by
        # side where their measured memory allows.
        reports, failed, peak = run_rows(args, args.paper or PAPERS, work)
    print(table(reports, args.capacity_gb))
    print()
    for report in reports:
        print(f"{report['paper']}: {report['process_wall_s']:.0f} s, peak RSS {report['peak_rss_gib']:.1f} GiB")
    print(f"paper-check: {time.monotonic() - started:.0f} s in all, peak RSS {peak / 1024 ** 3:.1f} GiB")
    if failed:
        print("paper-check FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    if "--json" in sys.argv:
        # A row's process ends here, its report written: skip the interpreter
        # tearing down TensorFlow's state of a full-size model (seconds a row).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
