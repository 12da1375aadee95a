"""One module per paper whose protocol the shared runner in `memotion_tf.experiments` does not cover."""
