"""Writers that tests/test_atomic_kill.py runs in a subprocess and SIGKILLs.

    python -m tests.kill_child file PATH VERSION   # one large file in chunks (atomic_open)
    python -m tests.kill_child tree PATH VERSION   # a folder of many files (atomic_directory)
    python -m tests.kill_child tree-two-renames PATH VERSION   # the same without RENAME_EXCHANGE
    python -m tests.kill_child export PATH FIRST   # SavedModels FIRST, FIRST+1, ... (export_classifier)

Each prints "writing" once it is about to write, so the parent can time the
kill from there rather than from interpreter start-up. Versions are written so
that the parent can tell a complete version from a partial or mixed one.
"""

import sys
import time

CHUNK = 1 << 19  # 512 KiB
CHUNKS = 40  # 20 MiB in all
TREE_FILES = 60
PAUSE = 0.004  # between chunks / files: a slow disk, so kills land mid-write


def file_content(version):
    """The bytes of version `version`: a header, then CHUNKS chunks that all
    carry the version, so a truncated or mixed file never matches."""
    header = f"version {version}\n".encode()
    return header + bytes([version % 251]) * (CHUNK * CHUNKS)


def tree_content(version, i):
    return f"version {version} file {i}\n".encode() * 200


def write_file(path, version):
    from memotion_tf.io import atomic_open

    data = file_content(version)
    print("writing", flush=True)
    with atomic_open(path, "wb") as f:
        for start in range(0, len(data), CHUNK):
            f.write(data[start:start + CHUNK])
            time.sleep(PAUSE)


def write_tree(path, version, exchange=True):
    import os

    from memotion_tf import io
    from memotion_tf.io import atomic_directory

    if not exchange:  # the path systems without renameat2 take
        io._exchange = lambda a, b: False

    print("writing", flush=True)
    with atomic_directory(path) as tmp:
        for i in range(TREE_FILES):
            with open(os.path.join(tmp, f"part_{i:03d}.txt"), "wb") as f:
                f.write(tree_content(version, i))
            time.sleep(PAUSE)


def constant_model(version):
    """A text model whose probabilities are softmax([version / 100, 0, 0]) for any
    input, so the weights show which version a SavedModel holds."""
    import keras
    import numpy as np

    token_ids = keras.Input(shape=(4,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(16, 2)(token_ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    dense = keras.layers.Dense(3, activation="softmax", name="probabilities")
    model = keras.Model({"token_ids": token_ids}, dense(x))
    dense.set_weights([np.zeros((2, 3), "float32"), np.array([version / 100, 0, 0], "float32")])
    return model


def export_forever(path, first):
    import tensorflow as tf

    from memotion_tf.export import export_classifier
    from memotion_tf.preprocessing.text import SequenceVectorizer

    vectorizer = SequenceVectorizer(sequence_length=4)
    vectorizer.adapt(["a b c", "d e"])
    vectorizer(tf.constant(["a"]))  # built, as training leaves it
    version = first
    print("writing", flush=True)
    while True:
        export_classifier(constant_model(version), path, class_names=["a", "b", "c"], vectorizer=vectorizer,
                          metadata={"version": version})
        print("exported", version, flush=True)
        version += 1


if __name__ == "__main__":
    mode, target, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
    writers = {"file": write_file, "tree": write_tree, "export": export_forever,
               "tree-two-renames": lambda p, v: write_tree(p, v, exchange=False)}
    writers[mode](target, number)
