"""`make bench`: speed and memory figures measured side by side in one run.

    python -m memotion_tf.benchmarks            # every section, then the targets
    python -m memotion_tf.benchmarks.input      # one section alone (also .memory,
                                                # .randaugment, .distribute)

Sections (each module's docstring says what it compares and how):

- `input`: the training input pipeline from image files and from one
  TFRecord file against OpenCV's decode+resize of the same files;
- `memory`: peak RSS of one training epoch at 1x and 4x the memes;
- `randaugment`: our RandAugment against `keras.layers.RandAugment`;
- `distribute`: training examples/s of our loop against `Model.fit`, and on 2
  logical-CPU replicas and 2 local workers.

Every comparison runs its sides in the same process (or, for training, fresh
processes in alternating rounds) so that both see the same machine load; the
best round of each side counts (`common.interleaved_throughput`; a tf.data
round is timed from the moment its iterator exists, and making the iterator,
once an epoch in training, is printed apart). `run` prints each ratio with
its target (`common.Target`).
"""
