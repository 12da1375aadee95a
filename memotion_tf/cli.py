"""The `memotion-tf` command (see ../shared/CONTRACT.md for the fixed surface).

    memotion-tf train --config CONFIG [--data-dir D] [--out O] [--profile P] [--set key=value ...]
    memotion-tf evaluate --saved-model PATH --data-dir D [--split val|train|all]
    memotion-tf predict --saved-model PATH --input FILE_OR_DIR --output preds.csv|json
    memotion-tf data synth --dataset NAME --out D [--size N] [--seed S]
    memotion-tf data check --dataset NAME --data-dir D [--task T]
"""

import argparse
import json
import logging
import os
import sys

from memotion_tf.datasets.common import DataError

DATASETS = ("memotion7k", "mami", "semeval21_task6", "danmu")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".webp")


def _cmd_train(args):
    from memotion_tf import config as config_lib
    from memotion_tf import experiments
    from memotion_tf.evaluation.report import results_markdown, write_results
    from memotion_tf.training.strategy import get_strategy

    config = config_lib.load_config(args.config, args.profile, args.set or [])
    strategy = get_strategy(config.logical_cpus)
    out = args.out or os.path.join("runs", config.paper or "train")
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


def _cmd_evaluate(args):
    import numpy as np

    from memotion_tf import experiments
    from memotion_tf.config import ExperimentConfig
    from memotion_tf.evaluation.metrics import classification_metrics
    from memotion_tf.export import load_exported

    serve, meta, _ = load_exported(args.saved_model)
    if meta.get("dataset") == "danmu":
        from memotion_tf.reproductions.bilimeme import evaluate_saved_model

        split = "test" if args.split == "val" and meta.get("evaluation_split") == "test" else args.split
        report = evaluate_saved_model(args.saved_model, args.data_dir, split, args.batch_size)
        print(json.dumps(report, indent=2))
        return report
    config = ExperimentConfig(dataset=meta["dataset"], task=meta["task"], text_field=meta["text_field"],
                              val_fraction=meta["val_fraction"], split_seed=meta["split_seed"],
                              folds=meta.get("folds", 0))
    data = experiments.prepare_data(config, args.data_dir)
    frame = data.split(args.split, meta.get("fold", 0))
    uses_image = "image" in meta["modalities"]
    predictions = []
    for chunk in _batches(frame, args.batch_size):
        images = [_read_bytes(p) if uses_image else b"" for p in chunk["image_path"]]
        out = serve(text=np.asarray(chunk["text"].astype(str), dtype=object), image=np.asarray(images, dtype=object))
        predictions.extend(out["probabilities"].numpy().argmax(-1).tolist())
    metrics = classification_metrics(frame["label"].to_numpy(), predictions, len(meta["class_names"]))
    report = {"saved_model": args.saved_model, "system": meta.get("system"), "split": args.split,
              "examples": len(frame), "metrics": metrics}
    print(json.dumps(report, indent=2))
    return report


def _cmd_predict(args):
    from memotion_tf.predict import predict_file

    return predict_file(args.saved_model, args.input, args.output, batch_size=args.batch_size,
                        allow_empty_text=args.allow_empty_text)


def _cmd_data(args):
    from memotion_tf import experiments
    from memotion_tf.config import ExperimentConfig
    from memotion_tf.datasets.common import check_images

    if args.dataset == "danmu":
        from memotion_tf.datasets.danmu import write_synthetic_danmu
        from memotion_tf.reproductions.bilimeme import check_danmu

        if args.data_command == "synth":
            write_synthetic_danmu(args.out, size=args.size, seed=args.seed)
            print(f"wrote {args.size} synthetic bullet chats (danmu.csv and train/val/test.csv) to {args.out}")
        else:
            print(check_danmu(args.data_dir))
        return
    if args.dataset not in experiments.READERS:
        raise SystemExit(f"dataset {args.dataset!r} is not implemented yet; available: "
                         f"{sorted(experiments.READERS)}")
    if args.data_command == "synth":
        experiments.SYNTHESIZERS[args.dataset](args.out, size=args.size, seed=args.seed)
        print(f"wrote {args.size} synthetic {args.dataset} memes to {args.out}")
        return
    config = ExperimentConfig(dataset=args.dataset, task=args.task)
    data = experiments.READERS[args.dataset](args.data_dir, task=config.task, text_field=config.text_field)
    _, report = check_images(data.frame)
    empty = int((data.frame["text"].str.strip() == "").sum())
    print(f"{data.labels_file}: {len(data.frame)} rows, labels valid for task {args.task}")
    print(report.summary())
    print(f"{empty} memes have an empty `{config.text_field}`")
    if "label" in data.frame:
        counts = data.frame["label"].value_counts().sort_index()
        print("class counts: " + ", ".join(f"{data.class_names[i]} {n}" for i, n in counts.items()))


def build_parser():
    parser = argparse.ArgumentParser(prog="memotion-tf", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one config (one table row)")
    train.add_argument("--config", required=True)
    train.add_argument("--data-dir")
    train.add_argument("--out")
    train.add_argument("--profile", default=os.environ.get("PROFILE", "quick"), choices=["quick", "paper"])
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    train.set_defaults(func=_cmd_train)

    evaluate = sub.add_parser("evaluate", help="metrics from an exported SavedModel alone")
    evaluate.add_argument("--saved-model", required=True)
    evaluate.add_argument("--data-dir", required=True)
    evaluate.add_argument("--split", default="val", choices=["val", "train", "test", "all"],
                          help="danmu SavedModels are evaluated on test when val is left as the default")
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
    synth.add_argument("--dataset", required=True, choices=DATASETS)
    synth.add_argument("--out", required=True)
    synth.add_argument("--size", type=int, default=1000)
    synth.add_argument("--seed", type=int, default=0)
    check = data_sub.add_parser("check", help="validate a dataset folder and report skips")
    check.add_argument("--dataset", required=True, choices=DATASETS)
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
