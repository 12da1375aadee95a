"""The Python API: the same three things the CLI does, as values.

    import memotion_tf

    results = memotion_tf.reproduce("uor", profile="quick", seeds=1)   # what results.json holds
    report = memotion_tf.evaluate("runs/uor/CNN-LSTM-TI/saved_model", "data/memotion_dataset_7k")
    frame = memotion_tf.predict("runs/uor/CNN-LSTM-TI/saved_model", "memes.csv")   # a pandas DataFrame
"""

import os


def reproduce(paper, **options):
    """Train and score every row of `paper`'s table; write results.json /
    results.md, plots, TensorBoard logs and one SavedModel per row under `out`.

    Args:
        paper: `uor`, `cnhit`, `1213li`, `mami-ssl` or `bilimeme`.
        **options: `profile` ("quick" | "paper"), `data_dir`, `out` (default
            `runs/<paper>`), `seeds`, `systems` (row names), `overrides`
            (["key=value", ...]), `logical_cpus`, `verbose`.

    Returns:
        The results: a dict as results.json holds it.

    Example:
    >>> results = memotion_tf.reproduce("uor", seeds=1, systems=["LSTM-T"], overrides=["epochs=1"])
    >>> results["rows"][0]["metrics"]["macro_f1"]["mean"]
    """
    from memotion_tf import runner

    return runner.reproduce(paper, **options)


def evaluate(saved_model, data_dir, split=None, batch_size=64, output=None):
    """The paper's metrics of an exported SavedModel on `split` of `data_dir`
    (default: the split its paper reports), from the SavedModel alone.

    A UoR or CN-HIT-MI.T model with `split="test"` reads Memotion's official
    test release at `data_dir` (2000_testdata.csv, 2000_data/, and
    Meme_groundTruth.csv for scores) and writes its predictions in the task's
    answer format to `output` (default: `answer.txt` beside the SavedModel).

    Returns a report: `{"saved_model", "system", "split", "examples", "metrics": {...}}`.
    """
    from memotion_tf import runner

    return runner.evaluate(saved_model, data_dir, split=split, batch_size=batch_size, output=output)


def _rows(inputs):
    """[(id, text, image path)] from a CSV path, a folder of images, a
    DataFrame or a list of dicts (`text`, `image`, optional `id`), or a list of texts."""
    import pandas as pd

    from memotion_tf.predict import read_inputs

    if isinstance(inputs, (str, os.PathLike)):
        return read_inputs(os.fspath(inputs))
    if isinstance(inputs, pd.DataFrame):
        inputs = inputs.to_dict("records")
    rows = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            item = {"text": item}
        rows.append((str(item.get("id", i + 1)), str(item.get("text", "") or ""), str(item.get("image", "") or "")))
    return rows


def predict(saved_model, inputs, batch_size=32, allow_empty_text=False):
    """Run an exported SavedModel on memes: one DataFrame row per meme with
    `id`, `label`, `error` ("" or why there is no prediction), `warning` and
    one `p_<class>` column per class.

    Args:
        saved_model: a SavedModel folder written by a reproduction.
        inputs: a CSV path (`text` and/or `image` columns, image paths relative
            to the CSV), a folder of images, a DataFrame or a list of dicts
            with `text` / `image` (a path) / `id`, or a list of texts.
        batch_size: memes per call of the SavedModel.
        allow_empty_text: predict memes with empty text (with a warning).

    Example:
    >>> memotion_tf.predict("runs/uor/LSTM-T/saved_model", ["when monday comes", "free pizza"])
    """
    import pandas as pd

    from memotion_tf.predict import Predictor

    predictor = Predictor(saved_model, batch_size=batch_size, allow_empty_text=allow_empty_text)
    results = predictor.predict(_rows(inputs))
    columns = ["id", "label", "error", "warning"]
    frame = pd.DataFrame(results)
    return frame[columns + [c for c in frame.columns if c not in columns]] if len(frame) else \
        pd.DataFrame(columns=columns)
