"""The `memotion-tf` command.

    memotion-tf reproduce PAPER [--profile quick|paper] [--data-dir D] [--out O] [--seeds N] [--systems NAME ...]
    memotion-tf train --config CONFIG [--data-dir D] [--out O] [--set key=value ...]
    memotion-tf evaluate --saved-model PATH --data-dir D [--split S]
    memotion-tf predict --saved-model PATH --input FILE_OR_DIR --output preds.csv|json
    memotion-tf data synth --dataset NAME --out D [--size N] [--seed S]
    memotion-tf data check --dataset NAME --data-dir D [--task T]

Every subcommand looks papers and datasets up by name (`papers.get_paper`,
`datasets.registry`); none branches on one. A problem with the input (a data
file, a config, a path) is one line naming it, with exit code 2.
"""

import argparse
import json
import logging
import os
import sys

from memotion_tf import __version__

log = logging.getLogger("memotion_tf")

PAPER_HELP = {
    "uor": "UoR at SemEval-2020 Task 8 (ACL Anthology 2020.semeval-1.159): Memotion task A, Table 1",
    "cnhit": "CN-HIT-MI.T at SemEval-2020 Task 8 (ACL Anthology 2020.semeval-1.145): Memotion task A, Table 2",
    "1213li": "1213Li at SemEval-2021 Task 6 (ACL Anthology 2021.semeval-1.142): subtask 3, Tables 1 and 2",
    "mami-ssl": "Multimodal semi-supervised learning for sentiment analysis of image macros "
                "(Pham, Nguyen, Ngo; supervised by Phan Duy Hung): MAMI, Tables 3-5",
    "bilimeme": "BiliMemeNet: Using NLP to Learn Chinese Meme From Bullet Chat (Tu, Mao, Xue, Zhang): "
                "Bilibili danmu, Table 2",
}
DATASET_NAMES = ("memotion7k", "mami", "semeval21_task6", "danmu")
SPLITS = ("val", "dev", "train", "test", "all")


def setup_logging(level=logging.INFO):
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stdout)


def _overrides(args):
    return list(getattr(args, "set", None) or [])


def _cmd_reproduce(args):
    from memotion_tf import runner

    results = runner.reproduce(args.paper, profile=args.profile, data_dir=args.data_dir, out=args.out,
                               seeds=args.seeds, systems=args.systems, overrides=_overrides(args),
                               logical_cpus=args.logical_cpus)
    _print_results(args.out)
    return results


def _print_results(out):
    from memotion_tf import io

    # A worker other than the chief wrote its copy to its private folder (`training.cluster.setup`).
    with open(io.write_path(os.path.join(out, "results.md")), encoding="utf-8") as f:
        print()
        print(f.read())
    print(f"results: {os.path.join(out, 'results.json')} and results.md; plots, TensorBoard logs "
          f"(tensorboard --logdir {out}) and SavedModels under {out}/<row>/")


def resolve_config(path):
    """A config file by path, or by its name under the packaged configs (`uor/lstm_t.toml`)."""
    from memotion_tf import paths
    from memotion_tf.config import ConfigError

    if os.path.isfile(path):
        return path
    packaged = paths.config_path(path)
    if os.path.isfile(packaged):
        return packaged
    raise ConfigError(f"config file not found: {path} (give a path, or a packaged name such as "
                      f"uor/lstm_t.toml; the packaged configs are in {paths.config_dir()})")


def _config_paper(args):
    from memotion_tf import config as config_lib

    return config_lib.load_config(resolve_config(args.config), args.profile).paper


def _cmd_train(args):
    from memotion_tf import paths, runner

    paper = _config_paper(args)
    out = args.out or paths.default_out(paper)
    results = runner.reproduce(paper, profile=args.profile, data_dir=args.data_dir, out=out,
                               overrides=_overrides(args), logical_cpus=args.logical_cpus,
                               config_files=[resolve_config(args.config)], merge=True)
    _print_results(out)
    return results


def _cmd_evaluate(args):
    from memotion_tf import runner

    report = runner.evaluate(args.saved_model, args.data_dir, args.split, args.batch_size, output=args.output)
    print(json.dumps(report, indent=2))
    return report


def _cmd_predict(args):
    from memotion_tf.predict import predict_file

    return predict_file(args.saved_model, args.input, args.output, batch_size=args.batch_size,
                        allow_empty_text=args.allow_empty_text, image_root=args.image_root,
                        max_pixels=args.max_image_pixels, max_bytes=args.max_image_bytes)


def _cmd_data(args):
    from memotion_tf.datasets import registry

    if args.data_command == "synth":
        print(registry.synthesize(args.dataset, args.out, args.size, args.seed))
    else:
        if not os.path.exists(args.data_dir):
            from memotion_tf.datasets.common import DataError

            raise DataError("no such file or folder (--data-dir)", file=args.data_dir)
        print(registry.get_dataset(args.dataset).check(args.data_dir, args.task, duplicates=args.duplicates))


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def _add_run_options(parser, profile_default):
    from memotion_tf.training import cluster

    parser.add_argument("--profile", default=profile_default, choices=["quick", "paper"],
                        help="quick: minutes on a 2-core CPU (small models, few epochs); "
                             "paper: the paper's protocol (pretrained presets, full epochs; a GPU advised)")
    parser.add_argument("--data-dir", metavar="D",
                        help="the dataset in its official layout (see the README); default: the embedded "
                             "synthetic data, written once under $MEMOTION_TF_HOME or the user cache")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key for every row, e.g. --set epochs=3 or "
                             "--set model_args.dropout=0.3 (repeatable)")
    parser.add_argument("--logical-cpus", type=int, metavar="N",
                        help="split the CPU into N logical devices and train under MirroredStrategy over them "
                             "(how MirroredStrategy is exercised without GPUs)")
    cluster.add_arguments(parser)


def build_parser():
    from memotion_tf.papers import PAPERS

    parser = argparse.ArgumentParser(
        prog="memotion-tf", formatter_class=_Formatter,
        description="Keras 3 / TensorFlow reproductions of multimodal meme-analysis papers.",
        epilog="papers:\n" + "\n".join(f"  {name:9s} {PAPER_HELP[name]}" for name in PAPERS)
               + "\n\nexample:\n  memotion-tf reproduce uor --seeds 1")
    parser.add_argument("--version", action="version", version=f"memotion-tf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    reproduce = sub.add_parser(
        "reproduce", formatter_class=_Formatter, help="train and score a paper's table (the make targets)",
        description="Train every row of a paper's table, print ours beside the paper's numbers, and write "
                    "results.json, results.md, plots, TensorBoard logs and one SavedModel per row under --out.",
        epilog="examples:\n  memotion-tf reproduce uor\n"
               "  memotion-tf reproduce cnhit --data-dir ~/data/memotion_dataset_7k --systems BERT ResNet\n"
               "  memotion-tf reproduce 1213li --profile paper --data-dir ~/data/semeval2021_task6 --out runs/li")
    reproduce.add_argument("paper", choices=list(PAPERS), metavar="PAPER",
                           help="one of: " + ", ".join(PAPERS))
    reproduce.add_argument("--out", metavar="O", help="output folder (default: runs/<paper> of the working folder)")
    reproduce.add_argument("--seeds", type=int, metavar="N", help="runs per row (default: the profile's)")
    reproduce.add_argument("--systems", nargs="+", metavar="NAME",
                           help="only these rows, by the paper's own names (e.g. LSTM-T CNN-I)")
    _add_run_options(reproduce, "quick")
    reproduce.set_defaults(func=_cmd_reproduce)

    train = sub.add_parser(
        "train", formatter_class=_Formatter, help="train one config (one table row) and merge it into --out",
        description="Train one row from its config file. Its row is merged into the results already under "
                    "--out (the other rows stay).",
        epilog="examples:\n  memotion-tf train --config uor/cnn_lstm_ti.toml --set epochs=3\n"
               "  memotion-tf train --config my_configs/bert.toml --data-dir ~/data/memotion_dataset_7k")
    train.add_argument("--config", required=True, metavar="CONFIG",
                       help="a config file, or a packaged one by name (e.g. uor/lstm_t.toml)")
    train.add_argument("--out", metavar="O", help="output folder (default: runs/<paper> of the working folder)")
    _add_run_options(train, os.environ.get("PROFILE", "quick"))
    train.set_defaults(func=_cmd_train)

    evaluate = sub.add_parser(
        "evaluate", formatter_class=_Formatter, help="metrics of an exported SavedModel, from it alone",
        description="Score an exported SavedModel on a split of a dataset, rebuilt the way training split it. "
                    "Prints the report as JSON.",
        epilog="examples:\n  memotion-tf evaluate --saved-model runs/uor/CNN-LSTM-TI/saved_model "
               "--data-dir ~/data/memotion_dataset_7k\n"
               "  memotion-tf evaluate --saved-model runs/uor/CNN-LSTM-TI/saved_model "
               "--data-dir ~/data/memotion_test_data --split test")
    evaluate.add_argument("--saved-model", required=True, metavar="PATH", help="a SavedModel folder of a run")
    evaluate.add_argument("--data-dir", required=True, metavar="D", help="the dataset in its official layout")
    evaluate.add_argument("--split", choices=SPLITS,
                          help="default: the split the model's paper reports (val for UoR and CN-HIT-MI.T, "
                               "dev for 1213Li, test for MAMI and BiliMemeNet). For UoR and CN-HIT-MI.T, test "
                               "reads Memotion's official test release at --data-dir (2000_testdata.csv, 2000_data/, "
                               "Meme_groundTruth.csv for scores)")
    evaluate.add_argument("--output", metavar="FILE",
                          help="Memotion's test split: the answer file (one A_BBBB_CCCC line per meme; default "
                               "answer.txt beside the SavedModel)")
    evaluate.add_argument("--batch-size", type=int, default=64, metavar="N", help="memes per SavedModel call")
    evaluate.set_defaults(func=_cmd_evaluate)

    predict = sub.add_parser(
        "predict", formatter_class=_Formatter, help="run an exported SavedModel on memes",
        description="Predict every meme of a CSV (text and/or image columns, image paths relative to the CSV, "
                    "optional id) or of a folder of images. One output row per meme; a meme that cannot be "
                    "predicted gets an error and the run goes on.",
        epilog="example:\n  memotion-tf predict --saved-model runs/uor/CNN-LSTM-TI/saved_model "
               "--input memes.csv --output preds.csv")
    predict.add_argument("--saved-model", required=True, metavar="PATH", help="a SavedModel folder of a run")
    predict.add_argument("--input", required=True, metavar="FILE_OR_DIR",
                         help="a CSV with text and/or image columns, or a folder of images")
    predict.add_argument("--output", required=True, metavar="FILE", help="preds.csv or preds.json")
    predict.add_argument("--batch-size", type=int, default=32, metavar="N", help="memes per SavedModel call")
    predict.add_argument("--allow-empty-text", action="store_true",
                         help="predict memes with empty text (with a warning) instead of an error row")
    predict.add_argument("--image-root", metavar="DIR",
                         help="folder the CSV's image paths are relative to, and must stay inside "
                              "(default: the CSV's folder)")
    predict.add_argument("--max-image-pixels", type=int, metavar="N",
                         help="refuse (as an error row) an image whose header gives more pixels than this, "
                              "before decoding it (default: the SavedModel's limit, 50 megapixels)")
    predict.add_argument("--max-image-bytes", type=int, metavar="N",
                         help="refuse (as an error row) an image file larger than this (default: the "
                              "SavedModel's limit, 50 MiB)")
    predict.set_defaults(func=_cmd_predict)

    data = sub.add_parser("data", formatter_class=_Formatter, help="write or check a dataset",
                          description="Write a synthetic copy of a dataset in its official layout, or check a "
                                      "folder in that layout.",
                          epilog="examples:\n  memotion-tf data synth --dataset memotion7k --out /tmp/memotion\n"
                                 "  memotion-tf data check --dataset semeval21_task6 --data-dir ~/data/task6")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    synth = data_sub.add_parser("synth", formatter_class=_Formatter,
                                help="write a synthetic copy in the official layout",
                                epilog="example:\n  memotion-tf data synth --dataset mami --out /tmp/mami --size 400")
    synth.add_argument("--dataset", required=True, choices=DATASET_NAMES, help="which dataset's layout")
    synth.add_argument("--out", required=True, metavar="D",
                       help="a new or empty folder (never one holding other files)")
    synth.add_argument("--size", type=int, default=1000, metavar="N", help="memes (or chats) to write")
    synth.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of the copy")
    check = data_sub.add_parser("check", formatter_class=_Formatter,
                                help="validate a dataset folder and report skips",
                                epilog="example:\n  memotion-tf data check --dataset memotion7k "
                                       "--data-dir ~/data/memotion_dataset_7k")
    check.add_argument("--dataset", required=True, choices=DATASET_NAMES, help="which dataset's layout")
    check.add_argument("--data-dir", required=True, metavar="D", help="the folder to check")
    check.add_argument("--task", default="A", metavar="T", help="the task whose columns to check (Memotion A/B/C)")
    check.add_argument("--duplicates", default="keep", choices=["keep", "error", "skip"],
                       help="the same image with conflicting labels: report it (keep), stop (error, as training "
                            "does by default) or report it as skipped (skip)")
    data.set_defaults(func=_cmd_data)
    return parser


def main(argv=None):
    """Run the CLI; returns the exit status (2 for a problem with the input, named in one line)."""
    from memotion_tf.config import ConfigError
    from memotion_tf.datasets.common import DataError

    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        if args.func in (_cmd_reproduce, _cmd_train):
            from memotion_tf import paths
            from memotion_tf.training import cluster

            if args.out is None:
                args.out = paths.default_out(args.paper if args.func is _cmd_reproduce else _config_paper(args))
            # Before TensorFlow starts: TF_CONFIG, and a non-chief worker's private output folder.
            cluster.setup(args.workers, args.worker_index, args.out)
        args.func(args)
    except (DataError, ConfigError) as e:
        log.error("%s", e)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
        log.error("%s: %s", e.filename or "", e.strerror or e)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted; run the same command again to resume from the last finished epoch")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
