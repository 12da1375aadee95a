"""`memotion-tf predict`: an exported SavedModel on meme files, one output row per meme.

    memotion-tf predict --saved-model P --input memes.csv|folder --output preds.csv|json
                        [--image-root DIR] [--batch-size 32] [--allow-empty-text]

The input is a CSV with `text` and/or `image` columns (an optional `id` column
names the rows) or a folder of images. Image paths in a CSV are relative to
the CSV's folder (or to `image_root`) and must stay inside it, as the dataset
readers require. Each output row has `id`, `label`, `error`, `warning` and one
`p_<class>` per class. A meme that cannot be predicted gets an `error` and no
probabilities; the run goes on with the others:

| input | result |
|---|---|
| image path absolute, or escaping the CSV's folder (`../x.png`, a link pointing out) | `error` |
| image file missing, a folder, a FIFO or a device (`/dev/zero`): only regular files are opened, without blocking | `error`, at once |
| image file over `MAX_IMAGE_BYTES` (50 MiB), or whose header gives over `MAX_IMAGE_PIXELS` (50 megapixels; every frame of an animation counts) | `error` naming the size, nothing decoded |
| image empty, corrupt, or a format TensorFlow cannot decode (e.g. TIFF; JPEG XL is refused) | `error` |
| empty text (only whitespace) for a model that reads text | `error`; with `--allow-empty-text` a prediction and a `warning` |
| more tokens than the model reads (`max_text_tokens` in the metadata) | a prediction from the part it reads (as in training) and a `warning` saying how many tokens were cut and from which end |
| more than `TOO_LONG_FACTOR` (10) times that many tokens | `error`: that is not a meme caption, and most of it would be ignored |
| no word the model knows (word-level vocabularies drop unknown words) | a prediction and a `warning` |

The input file itself, and the output, are checked before anything is
predicted, and a problem there is one `DataError` line: an input that is
missing, not a regular file, a pickle, empty, not UTF-8, malformed, without a
`text` or `image` column, or with no rows; an output that is a folder, in a
folder that cannot be written, or an existing file memotion-tf did not write
(`io.claim_output_file`).

Rows are sent to the SavedModel in batches; its signature marks a bad image
per row itself, so one bad image does not cost the batch. A SavedModel that
raises instead (exported before that) has the failing batch retried row by row.
"""

import logging
import os
import re
import typing

import numpy as np

from memotion_tf.datasets.common import DataError, read_csv, read_image_file, refuse_pickle, require_regular_file
from memotion_tf.preprocessing.image import IMAGE_ERRORS, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, check_image_bytes

log = logging.getLogger(__name__)

TOO_LONG_FACTOR = 10
# Files a folder input predicts: what TensorFlow decodes, and common formats it
# does not (so that they get an error row instead of being skipped unseen).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".jxl",
                  ".tif", ".tiff", ".heic", ".heif", ".avif")


class MemeInput(typing.NamedTuple):
    """One meme to predict: `image` is a resolved path or "" (none given);
    `error` is set when the input row itself is refused (e.g. an image path
    escaping the image folder)."""

    id: str
    text: str
    image: str
    error: str = ""


def _resolve_image(root, name, file, row):
    """(path, "") inside `root`, or ("", error) for a name that escapes it."""
    from memotion_tf.datasets.common import resolve_inside

    try:
        return resolve_inside(root, name, file, row, "image"), ""
    except DataError as e:
        prefix = str(DataError("", file=file, row=row, column="image"))
        message = str(e)[len(prefix):] if str(e).startswith(prefix) else str(e)
        return "", f"image path refused: {message}"


def read_inputs(path, image_root=None):
    """[MemeInput] from a CSV (columns `text` and/or `image`, optional `id`)
    or from a folder of images (id = file name, no text).

    Image paths in a CSV are relative to `image_root` (default: the CSV's
    folder) and must stay inside it; a path that does not becomes that row's
    error. Raises DataError for an input that is missing, not a regular file
    or folder, a pickle, empty, not UTF-8, malformed, without a `text` or
    `image` column, or without rows."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise DataError("input not found (a CSV or a folder of images)", file=path)
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path)
                       if n.lower().endswith(IMAGE_SUFFIXES) and not n.startswith("."))
        rows = []
        for i, name in enumerate(names, start=1):
            image, error = _resolve_image(path, name, path, i)
            rows.append(MemeInput(name, "", image, error))
        return rows
    require_regular_file(path, "input file")
    refuse_pickle(path)
    frame = read_csv(path, [], require_rows=False)
    if "text" not in frame.columns and "image" not in frame.columns:
        raise DataError(f"needs a `text` and/or an `image` column; found {list(frame.columns)}", file=path)
    if len(frame) == 0:
        raise DataError("no memes: the file holds only its header line", file=path)
    if image_root is None:
        image_root = os.path.dirname(os.path.abspath(path))
    elif not os.path.isdir(image_root):
        raise DataError("image root is not a folder", file=image_root)
    rows = []
    for i, record in enumerate(frame.to_dict("records"), start=1):
        image, error = "", ""
        if record.get("image", ""):
            image, error = _resolve_image(image_root, record["image"], path, i)
        rows.append(MemeInput(str(record.get("id", str(i))), str(record.get("text", "")), image, error))
    return rows


def read_image(path, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES):
    """(bytes, "") or (b"", error message naming the file). Only a regular
    file is read (a FIFO or a device is refused without blocking), at most
    `max_bytes` of it, and only if its header gives at most `max_pixels`."""
    if not path:
        return b"", "no image given"
    data, problem = read_image_file(path, max_bytes)
    if problem == "missing":
        return b"", f"image file not found: {path}"
    if problem.startswith("too large"):
        return b"", f"{IMAGE_ERRORS['too_large']}: {problem[len('too large: '):]}: {path}"
    if problem:
        return b"", f"image file {'is ' if problem.startswith('not ') else ''}{problem}: {path}"
    kind, detail = check_image_bytes(data, max_pixels, None)
    if kind == "too_large":
        return b"", f"{IMAGE_ERRORS['too_large']}: {detail}: {path} (a file of {len(data):,} bytes)"
    if kind is not None:
        return b"", f"{IMAGE_ERRORS[kind]}: {path}"
    return data, ""


def _empty_text(allow_empty):
    """(error, warning) for a meme whose text is empty or only whitespace."""
    return ("", "empty text") if allow_empty else ("empty text (--allow-empty-text predicts anyway)", "")


def _length_checks(tokens, meta):
    """(error, warning) for a text the SavedModel counted as `tokens` tokens."""
    limit = meta.get("max_text_tokens")
    if tokens is None or tokens < 0 or not limit:  # this SavedModel cannot count its tokens
        return "", ""
    if tokens == 0:  # a word-level vocabulary drops unknown words
        return "", "no word of the text is in the model's vocabulary: it read an empty text"
    if tokens <= limit:
        return "", ""
    if tokens > TOO_LONG_FACTOR * limit:
        return f"text too long: {tokens} tokens, over {TOO_LONG_FACTOR} x the {limit} the model reads", ""
    end = "last" if meta.get("text_truncation") == "start" else "first"
    return "", f"text truncated: {tokens} tokens, the model reads the {end} {limit} ({tokens - limit} cut)"


def _error_summary(error):
    """The line of a TensorFlow error that says what went wrong, without the
    graph-execution preamble and node names."""
    for line in error.message.splitlines():
        line = re.sub(r"\{\{[^}]*\}\}\s*", "", line).strip()
        if line and not line.startswith(("Graph execution error", "Detected at node", "File ", "<stack", "[[")):
            return line[:200]
    return type(error).__name__


class Predictor:
    """Runs an exported SavedModel on (id, text, image path) rows.

    Args:
        saved_model: the SavedModel folder (`export.export_classifier`).
        batch_size: rows per call of the serving signature.
        allow_empty_text: predict memes with empty text (with a warning)
            instead of giving them an error.
        max_pixels, max_bytes: image limits (`read_image`); None: the ones
            the model was exported with, else `MAX_IMAGE_PIXELS` and
            `MAX_IMAGE_BYTES`.
    """

    def __init__(self, saved_model, batch_size=32, allow_empty_text=False, max_pixels=None, max_bytes=None):
        from memotion_tf.export import load_exported

        self.serve, self.meta, self._loaded = load_exported(saved_model)
        self.max_pixels = max_pixels or self.meta.get("max_image_pixels") or MAX_IMAGE_PIXELS
        self.max_bytes = max_bytes or self.meta.get("max_image_bytes") or MAX_IMAGE_BYTES
        self.batch_size = max(1, int(batch_size))
        self.allow_empty_text = allow_empty_text
        self.uses_text = "text" in self.meta["modalities"]
        self.uses_image = "image" in self.meta["modalities"]
        self.segment = None
        if self.meta.get("text_input") == "jieba":
            # BiliMemeNet: jieba cannot run inside the SavedModel, so the text is segmented here.
            from memotion_tf.papers.bilimeme import segment_texts

            stopwords = self.meta.get("stopwords", "stopwords-iso")
            self.segment = lambda texts: segment_texts(texts, stopwords=stopwords)

    def _call(self, texts, images):
        import tensorflow as tf

        out = self.serve(text=tf.constant(texts, tf.string), image=tf.constant(images, tf.string))
        count = len(texts)
        return {
            "probabilities": out["probabilities"].numpy(),
            "label": [s.decode() for s in out["label"].numpy()],
            "error": [s.decode() for s in out["error"].numpy()] if "error" in out else [""] * count,
            "text_tokens": out["text_tokens"].numpy().tolist() if "text_tokens" in out else [None] * count,
        }

    def _call_rows(self, texts, images):
        """`_call` on a batch; if the SavedModel raises (one exported before
        per-row image errors), row by row, each failure becoming its error."""
        import tensorflow as tf

        try:
            return self._call(texts, images)
        except tf.errors.OpError:
            log.info("the SavedModel failed on a batch; retrying its %d rows one by one", len(texts))
        merged = {"probabilities": [], "label": [], "error": [], "text_tokens": []}
        classes = len(self.meta["class_names"])
        for text, image in zip(texts, images):
            try:
                one = self._call([text], [image])
            except tf.errors.OpError as e:
                message = _error_summary(e)
                one = {"probabilities": np.full([1, classes], np.nan), "label": [""],
                       "error": [f"model: {message}"], "text_tokens": [None]}
            for key in merged:
                merged[key].extend(list(one[key]))
        merged["probabilities"] = np.asarray(merged["probabilities"])
        return merged

    def predict(self, rows):
        """One dict per row, in order: id, label, error, warning, p_<class>...

        `rows` are `MemeInput`s or (id, text, image path) tuples."""
        rows = [MemeInput(*row) for row in rows]
        texts = [str(row.text) for row in rows]
        if self.segment is not None and texts:
            texts = self.segment(texts)
        results, pending = [], []
        for row, text in zip(rows, texts):
            image_path = row.image
            result = {"id": row.id, "label": "", "error": "", "warning": ""}
            data = b""
            if self.uses_image and row.error:
                result["error"] = row.error
            if self.uses_text and not result["error"] and not text.strip():
                result["error"], result["warning"] = _empty_text(self.allow_empty_text)
            if self.uses_image and not result["error"]:
                data, result["error"] = read_image(image_path, self.max_pixels, self.max_bytes)
            results.append(result)
            if not result["error"]:
                pending.append((result, text, data, image_path))
        for start in range(0, len(pending), self.batch_size):
            self._fill(pending[start:start + self.batch_size])
        return results

    def _fill(self, batch):
        out = self._call_rows([b[1] for b in batch], [b[2] for b in batch])
        for i, (result, text, _, image_path) in enumerate(batch):
            if out["error"][i]:
                result["error"] = out["error"][i] + (f": {image_path}" if out["error"][i].startswith("image") else "")
                continue
            if self.uses_text and text.strip():
                error, warning = _length_checks(out["text_tokens"][i], self.meta)
                if error:
                    result["error"] = error
                    continue
                result["warning"] = "; ".join(w for w in (result["warning"], warning) if w)
            result["label"] = out["label"][i]
            for name, p in zip(self.meta["class_names"], out["probabilities"][i]):
                result[f"p_{name}"] = float(p)


def write_predictions(results, output):
    """preds.json (a list of rows) or a CSV; atomically, and only over a file
    memotion-tf wrote (`io.owned_open`, which records the file it writes)."""
    import json

    import pandas as pd

    from memotion_tf.io import owned_open

    with owned_open(output, "w", newline="", encoding="utf-8") as f:
        if output.endswith(".json"):
            f.write(json.dumps(results, indent=2) + "\n")
        else:
            pd.DataFrame(results).to_csv(f, index=False)


def predict_file(saved_model, input_path, output, batch_size=32, allow_empty_text=False, image_root=None,
                 max_pixels=None, max_bytes=None):
    """Predict every meme of a CSV or folder and write `output`; returns the rows.

    The output is checked first (`io.claim_output_file`: writable, not a file
    memotion-tf did not write), then the input is read (`read_inputs`), and
    only then is the model loaded and run. Every problem with the input or
    output file raises DataError; problems with single memes become rows with
    an `error`."""
    from memotion_tf.io import claim_output_file

    output = os.fspath(output)
    claim_output_file(output, "predictions file")
    rows = read_inputs(input_path, image_root)
    predictor = Predictor(saved_model, batch_size=batch_size, allow_empty_text=allow_empty_text,
                          max_pixels=max_pixels, max_bytes=max_bytes)
    results = predictor.predict(rows)
    write_predictions(results, output)
    errors = sum(1 for r in results if r["error"])
    warnings = sum(1 for r in results if r["warning"])
    print(f"wrote {len(results)} predictions to {output} ({errors} with an error, {warnings} with a warning)")
    return results
