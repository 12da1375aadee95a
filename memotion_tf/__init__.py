"""memotion-tf: Keras 3 / TensorFlow reproductions of multimodal meme-analysis papers.

    import memotion_tf
    results = memotion_tf.reproduce("uor")                        # a paper's table, as results.json holds it
    report = memotion_tf.evaluate(saved_model, data_dir)          # metrics of an exported model
    frame = memotion_tf.predict(saved_model, "memes.csv")         # one row per meme, with an `error` column

TensorFlow is imported on first use, not by `import memotion_tf`.
"""

__version__ = "0.2.0"

from memotion_tf.api import evaluate, predict, reproduce  # noqa: E402

__all__ = ["__version__", "reproduce", "evaluate", "predict"]
