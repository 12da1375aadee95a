"""`memotion-tf predict`: an exported SavedModel on meme files, one output row per meme.

    memotion-tf predict --saved-model P --input memes.csv|folder --output preds.csv|json
                        [--batch-size 32] [--allow-empty-text]

The input is a CSV with `text` and/or `image` columns (image paths relative to
the CSV; an optional `id` column names the rows) or a folder of images. Each
output row has `id`, `label`, `error`, `warning` and one `p_<class>` per class.
A meme that cannot be predicted gets an `error` and no probabilities; the run
goes on with the others:

| input | result |
|---|---|
| image file missing, unreadable, empty, corrupt, or a format TensorFlow cannot decode (e.g. TIFF) | `error` |
| empty text (only whitespace) for a model that reads text | `error`; with `--allow-empty-text` a prediction and a `warning` |
| more tokens than the model reads (`max_text_tokens` in the metadata) | a prediction from the part it reads (as in training) and a `warning` saying how many tokens were cut and from which end |
| more than `TOO_LONG_FACTOR` (10) times that many tokens | `error`: that is not a meme caption, and most of it would be ignored |
| no word the model knows (word-level vocabularies drop unknown words) | a prediction and a `warning` |

Rows are sent to the SavedModel in batches; its signature marks a bad image
per row itself, so one bad image does not cost the batch. A SavedModel that
raises instead (exported before that) has the failing batch retried row by row.
"""

import logging
import os
import re

import numpy as np

from memotion_tf.datasets.common import DataError

log = logging.getLogger(__name__)

TOO_LONG_FACTOR = 10
# Files a folder input predicts: what TensorFlow decodes, and common formats it
# does not (so that they get an error row instead of being skipped unseen).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".jxl",
                  ".tif", ".tiff", ".heic", ".heif", ".avif")


def read_inputs(path):
    """[(id, text, image path)] from a CSV (columns `text` and/or `image`,
    optional `id`) or from a folder of images (id = file name, no text)."""
    import pandas as pd

    if not os.path.exists(path):
        raise DataError("input not found (a CSV or a folder of images)", file=path)
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path)
                       if n.lower().endswith(IMAGE_SUFFIXES) and not n.startswith("."))
        return [(n, "", os.path.join(path, n)) for n in names]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "text" not in frame.columns and "image" not in frame.columns:
        raise DataError("needs a `text` and/or an `image` column", file=path)
    folder = os.path.dirname(os.path.abspath(path))
    rows = []
    for i, record in enumerate(frame.to_dict("records")):
        image = record.get("image", "")
        rows.append((record.get("id", str(i + 1)), record.get("text", ""),
                     os.path.join(folder, image) if image else ""))
    return rows


def _read_image(path):
    """(bytes, "") or (b"", error message)."""
    if not path:
        return b"", "no image given"
    try:
        with open(path, "rb") as f:
            return f.read(), ""
    except FileNotFoundError:
        return b"", f"image file not found: {path}"
    except OSError as e:
        return b"", f"image file unreadable ({e.strerror}): {path}"


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
    """

    def __init__(self, saved_model, batch_size=32, allow_empty_text=False):
        from memotion_tf.export import load_exported

        self.serve, self.meta, self._loaded = load_exported(saved_model)
        self.batch_size = max(1, int(batch_size))
        self.allow_empty_text = allow_empty_text
        self.uses_text = "text" in self.meta["modalities"]
        self.uses_image = "image" in self.meta["modalities"]
        self.segment = None
        if self.meta.get("text_input") == "jieba":
            # BiliMemeNet: jieba cannot run inside the SavedModel, so the text is segmented here.
            from memotion_tf.reproductions.bilimeme import segment_texts

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
        """One dict per row, in order: id, label, error, warning, p_<class>..."""
        rows = list(rows)
        texts = [str(text) for _, text, _ in rows]
        if self.segment is not None and texts:
            texts = self.segment(texts)
        results, pending = [], []
        for (meme_id, _, image_path), text in zip(rows, texts):
            result = {"id": meme_id, "label": "", "error": "", "warning": ""}
            data = b""
            if self.uses_text and not text.strip():
                result["error"], result["warning"] = _empty_text(self.allow_empty_text)
            if self.uses_image and not result["error"]:
                data, result["error"] = _read_image(image_path)
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
    """preds.json (a list of rows) or a CSV; atomically."""
    import pandas as pd

    from memotion_tf.io import atomic_open, atomic_write_json

    if output.endswith(".json"):
        atomic_write_json(output, results)
        return
    with atomic_open(output, "w", newline="", encoding="utf-8") as f:
        pd.DataFrame(results).to_csv(f, index=False)


def predict_file(saved_model, input_path, output, batch_size=32, allow_empty_text=False):
    """Predict every meme of a CSV or folder and write `output`; returns the rows."""
    predictor = Predictor(saved_model, batch_size=batch_size, allow_empty_text=allow_empty_text)
    results = predictor.predict(read_inputs(input_path))
    write_predictions(results, output)
    errors = sum(1 for r in results if r["error"])
    warnings = sum(1 for r in results if r["warning"])
    print(f"wrote {len(results)} predictions to {output} ({errors} with an error, {warnings} with a warning)")
    return results
