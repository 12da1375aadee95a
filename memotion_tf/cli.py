"""The `memotion-tf` command (see ../shared/CONTRACT.md for the fixed surface).

    memotion-tf train --config CONFIG [--data-dir D] [--out O] [--profile P] [--set key=value ...]
                      [--workers HOST:PORT,... --worker-index I]
    memotion-tf evaluate --saved-model PATH --data-dir D [--split val|dev|train|test|all]
    memotion-tf predict --saved-model PATH --input FILE_OR_DIR --output preds.csv|json [--allow-empty-text]
    memotion-tf data synth --dataset NAME --out D [--size N] [--seed S]
    memotion-tf data check --dataset NAME --data-dir D [--task T]
"""

import argparse
import json
import logging
import os
import sys

from memotion_tf.datasets.common import DataError

# Papers whose protocol the shared single-label runner (`experiments`) does not
# cover: multi-label targets, official splits, CLIP feature caches, jieba.
# Each module offers
#   train_config(path, profile, data_dir, out_dir, overrides) -> (results, markdown)
#   evaluate_saved_model(saved_model, data_dir, split, batch_size) -> report
# Its SavedModels carry `paper` in their metadata; the first split listed is
# the one the paper reports, which `evaluate` uses when --split is not given.
OWN_RUNNERS = {
    "1213li": ("memotion_tf.reproductions.team_1213li", ("dev", "train", "test")),
    "mami-ssl": ("memotion_tf.reproductions.mami_ssl", ("test", "val", "train")),
    "bilimeme": ("memotion_tf.reproductions.bilimeme", ("test", "val", "train", "all")),
}
SHARED_RUNNER_SPLITS = ("val", "train", "test", "all")
SPLIT_ALIASES = {"1213li": {"val": "dev"}}  # SemEval-2021 Task 6 calls its validation split "dev"


def _own_runner(paper):
    import importlib

    module, splits = OWN_RUNNERS[paper]
    return importlib.import_module(module), splits


def _cmd_train(args):
    from memotion_tf import config as config_lib
    from memotion_tf import experiments
    from memotion_tf.evaluation.report import results_markdown, write_results
    from memotion_tf.training import cluster
    from memotion_tf.training.strategy import get_strategy

    config = config_lib.load_config(args.config, args.profile, args.set or [])
    out = args.out or os.path.join("runs", config.paper or "train")
    cluster.setup(args.workers, args.worker_index, out)  # before TensorFlow starts
    if config.paper in OWN_RUNNERS:
        runner, _ = _own_runner(config.paper)
        _, markdown = runner.train_config(args.config, args.profile, args.data_dir, out, args.set or [])
        print(markdown)
        return
    strategy = get_strategy(config.logical_cpus)
    data_dir, synthetic = experiments.ensure_data(config, args.data_dir)
    data = experiments.prepare_data(config, data_dir, synthetic)
    row = experiments.run_system(config, data, out, strategy)
    results = experiments.results_document(config.paper, [config], [row], synthetic, args.profile)
    spec = experiments.PAPERS.get(config.paper, {})
    markdown = results_markdown(
        results, spec.get("paper_columns", []),
        spec.get("metric_columns", [(m, m) for m in row["metrics"]]),
        spec.get("title", config.system),
    )
    write_results(out, results, markdown)
    print(markdown)


def _batches(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def evaluate(saved_model, data_dir, split=None, batch_size=64):
    """Metrics of an exported SavedModel on `split` of `data_dir`, from the
    SavedModel alone (raw text and image bytes in), rebuilt the way training
    split the data. `split` None: the split the model's paper reports. Returns
    the report (`memotion-tf evaluate` prints it as JSON).

    Example:
    >>> report = evaluate("runs/uor/CNN-LSTM-TI/saved_model", "data/memotion_dataset_7k")
    >>> report["metrics"]["macro_f1"]
    """
    import numpy as np

    from memotion_tf import experiments
    from memotion_tf.config import ConfigError, ExperimentConfig
    from memotion_tf.evaluation.metrics import classification_metrics
    from memotion_tf.export import load_exported

    serve, meta, _ = load_exported(saved_model)
    paper = meta.get("paper")
    splits = OWN_RUNNERS[paper][1] if paper in OWN_RUNNERS else SHARED_RUNNER_SPLITS
    chosen = SPLIT_ALIASES.get(paper, {}).get(split, split) or splits[0]
    if chosen not in splits:
        raise ConfigError(f"{saved_model}: a {paper or meta['dataset']} model is evaluated on "
                          f"split {' | '.join(splits)}, not {split!r}")
    if paper in OWN_RUNNERS:
        runner, _ = _own_runner(paper)
        return runner.evaluate_saved_model(saved_model, data_dir, chosen, batch_size)
    config = ExperimentConfig(dataset=meta["dataset"], task=meta["task"], text_field=meta["text_field"],
                              val_fraction=meta["val_fraction"], split_seed=meta["split_seed"],
                              folds=meta.get("folds", 0))
    data = experiments.prepare_data(config, data_dir)
    frame = data.split(chosen, meta.get("fold", 0))
    uses_image = "image" in meta["modalities"]
    predictions = []
    for chunk in _batches(frame, batch_size):
        images = [_read_bytes(p) if uses_image else b"" for p in chunk["image_path"]]
        out = serve(text=np.asarray(chunk["text"].astype(str), dtype=object), image=np.asarray(images, dtype=object))
        predictions.extend(out["probabilities"].numpy().argmax(-1).tolist())
    metrics = classification_metrics(frame["label"].to_numpy(), predictions, len(meta["class_names"]))
    return {"saved_model": saved_model, "system": meta.get("system"), "split": chosen,
            "examples": len(frame), "metrics": metrics}


def _cmd_evaluate(args):
    report = evaluate(args.saved_model, args.data_dir, args.split, args.batch_size)
    print(json.dumps(report, indent=2))
    return report


def _cmd_predict(args):
    from memotion_tf.predict import predict_file

    return predict_file(args.saved_model, args.input, args.output, batch_size=args.batch_size,
                        allow_empty_text=args.allow_empty_text)


def _synth_danmu(out, size, seed):
    from memotion_tf.datasets.danmu import write_synthetic_danmu

    write_synthetic_danmu(out, size=size, seed=seed)
    return f"wrote {size} synthetic bullet chats (danmu.csv and train/val/test.csv) to {out}"


def _check_danmu(data_dir, task):
    from memotion_tf.reproductions.bilimeme import check_danmu

    return check_danmu(data_dir)


def _synth_semeval21_task6(out, size, seed):
    """N memes split 687:63:200, as the real corpus is."""
    from memotion_tf.datasets import semeval21_task6 as s21

    total = sum(s21.REAL_SIZES)
    train, dev = (round(size * n / total) for n in s21.REAL_SIZES[:2])
    sizes = (train, dev, size - train - dev)
    s21.write_synthetic_semeval21_task6(out, sizes=sizes, seed=seed)
    return f"wrote {size} synthetic semeval21_task6 memes (train/dev/test {sizes}) to {out}"


def _check_semeval21_task6(data_dir, task):
    """Every split: technique names, label counts, unreadable images."""
    from memotion_tf.datasets import semeval21_task6 as s21
    from memotion_tf.datasets.common import check_images

    lines = []
    for split in s21.SPLITS:
        data = s21.read_semeval21_task6(data_dir, split)
        _, report = check_images(data.frame)
        counts = data.targets.sum(0)
        lines += [f"{data.json_file}: {len(data.frame)} memes, every technique name valid, "
                  f"{int(counts.sum())} labels ({counts.sum() / max(len(data.frame), 1):.2f} per meme)",
                  report.summary(),
                  "technique counts: " + ", ".join(f"{n} {int(c)}" for n, c in zip(s21.TECHNIQUES, counts))]
    return "\n".join(lines)


def _synth_single_label(dataset):
    def synth(out, size, seed):
        from memotion_tf import experiments

        experiments.SYNTHESIZERS[dataset](out, size=size, seed=seed)
        return f"wrote {size} synthetic {dataset} memes to {out}"
    return synth


def _check_single_label(dataset):
    def check(data_dir, task):
        from memotion_tf import experiments
        from memotion_tf.datasets.common import check_images

        text_field = experiments.TEXT_FIELDS[dataset]
        data = experiments.READERS[dataset](data_dir, task=task, text_field=text_field)
        _, report = check_images(data.frame)
        empty = int((data.frame["text"].str.strip() == "").sum())
        lines = [f"{data.labels_file}: {len(data.frame)} rows, labels valid for task {task}",
                 report.summary(), f"{empty} memes have an empty `{text_field}`"]
        if "label" in data.frame:
            counts = data.frame["label"].value_counts().sort_index()
            lines.append("class counts: " + ", ".join(f"{data.class_names[i]} {n}" for i, n in counts.items()))
        return "\n".join(lines)
    return check


# `data synth` and `data check` per dataset: (synth(out, size, seed), check(data_dir, task)),
# each returning what is printed.
DATA_TOOLS = {
    "memotion7k": (_synth_single_label("memotion7k"), _check_single_label("memotion7k")),
    "mami": (_synth_single_label("mami"), _check_single_label("mami")),
    "semeval21_task6": (_synth_semeval21_task6, _check_semeval21_task6),
    "danmu": (_synth_danmu, _check_danmu),
}


def _cmd_data(args):
    synth, check = DATA_TOOLS[args.dataset]
    if args.data_command == "synth":
        print(synth(args.out, args.size, args.seed))
    else:
        print(check(args.data_dir, args.task))


def build_parser():
    from memotion_tf.training import cluster

    parser = argparse.ArgumentParser(prog="memotion-tf", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one config (one table row)")
    train.add_argument("--config", required=True)
    train.add_argument("--data-dir")
    train.add_argument("--out")
    train.add_argument("--profile", default=os.environ.get("PROFILE", "quick"), choices=["quick", "paper"])
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    cluster.add_arguments(train)
    train.set_defaults(func=_cmd_train)

    evaluate = sub.add_parser("evaluate", help="metrics from an exported SavedModel alone")
    evaluate.add_argument("--saved-model", required=True)
    evaluate.add_argument("--data-dir", required=True)
    evaluate.add_argument("--split", choices=["val", "dev", "train", "test", "all"],
                          help="default: the split the model's paper reports (val for UoR and CN-HIT-MI.T, "
                               "dev for 1213Li, test for MAMI and BiliMemeNet)")
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.set_defaults(func=_cmd_evaluate)

    predict = sub.add_parser("predict", help="run an exported SavedModel on memes")
    predict.add_argument("--saved-model", required=True)
    predict.add_argument("--input", required=True, help="CSV with text,image columns, or an image folder")
    predict.add_argument("--output", required=True, help="preds.csv or preds.json")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--allow-empty-text", action="store_true",
                         help="predict memes with empty text (with a warning) instead of an error row")
    predict.set_defaults(func=_cmd_predict)

    data = sub.add_parser("data", help="write or check a dataset")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    synth = data_sub.add_parser("synth", help="write a synthetic copy in the official layout")
    synth.add_argument("--dataset", required=True, choices=list(DATA_TOOLS))
    synth.add_argument("--out", required=True)
    synth.add_argument("--size", type=int, default=1000)
    synth.add_argument("--seed", type=int, default=0)
    check = data_sub.add_parser("check", help="validate a dataset folder and report skips")
    check.add_argument("--dataset", required=True, choices=list(DATA_TOOLS))
    check.add_argument("--data-dir", required=True)
    check.add_argument("--task", default="A")
    data.set_defaults(func=_cmd_data)
    return parser


def main(argv=None):
    from memotion_tf.config import ConfigError
    from memotion_tf.experiments import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        args.func(args)
    except (DataError, ConfigError) as e:
        logging.getLogger("memotion_tf").error("%s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
