"""`make bench`, input section: the training input pipeline, from image files
and from one TFRecord file, against OpenCV's decode+resize of the same files.

    python -m memotion_tf.benchmarks.input [--size 1600] [--image-size 128]

On the same memes, in one process, alternating round by round
(`common.interleaved_throughput`), images/s of:

1. OpenCV, the limit: read each file, `cv2.imdecode`, `cv2.resize` (bilinear)
   to the model's size, one row per number of threads (a thread pool; OpenCV's
   own threads off); the fastest decoder here. It does less than the pipeline:
   its images stay BGR uint8, unbatched, with no text;
2. TensorFlow's decode+resize alone: `preprocessing.image.decode_image` on
   the encoded bytes already in memory, one tf.data map per image;
3. the pipeline from image files: `input_pipeline.meme_dataset`, what
   training runs (read each file, decode, resize, scale, batch, vectorise the
   text, one-hot labels);
4. the pipeline from one TFRecord file of serialized `tf.train.Example`s
   (encoded image bytes, text, label), as a TFDS-prepared data set stores
   them: read, batch, parse the batch, then the same per-batch step as 3
   (`input_pipeline.batch_inputs`).

Each tf.data round makes a new iterator, as each training epoch does, and
is timed from the moment the iterator exists: making it (tf.data optimises
the pipeline's graph and instantiates its functions: 0.1-0.8 s here for 3
and 4) is a cost per epoch, printed beside the rate, not per image; in a
round of 1,600 memes (half a second) it would otherwise count for up to half
of the time.

Targets: 3 >= 0.9x the best OpenCV row; 4 >= 1.0x 3.
"""

import argparse
import concurrent.futures
import os
import tempfile

import numpy as np
import tensorflow as tf

from memotion_tf.benchmarks.common import Target, interleaved_throughput, synthetic_memes
from memotion_tf.input_pipeline import batch_inputs, meme_dataset
from memotion_tf.preprocessing.image import decode_image

AUTOTUNE = tf.data.AUTOTUNE
FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "text": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
}
# Bytes TFRecordDataset reads at a time: a few large reads rather than many small ones.
READ_BUFFER = 8 * 2**20


def _bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def meme_example(image_bytes, text, label):
    """One meme as a serialized `tf.train.Example` (image bytes as stored on disk)."""
    return tf.train.Example(features=tf.train.Features(feature={
        "image": _bytes_feature(image_bytes),
        "text": _bytes_feature(text.encode("utf-8")),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    })).SerializeToString()


def write_tfrecords(frame, path):
    """Write every row of `frame` (`image_path`, `text`, `label`) to one TFRecord file."""
    with tf.io.TFRecordWriter(path) as writer:
        for image_path, text, label in zip(frame["image_path"], frame["text"].astype(str), frame["label"]):
            with open(image_path, "rb") as f:
                writer.write(meme_example(f.read(), text, label))
    return path


def tfrecord_dataset(files, *, modalities, batch_size, num_classes, vectorizer, image_size):
    """`meme_dataset`'s batches from TFRecords: read -> batch -> map(parse the
    batch, then `batch_inputs`) -> prefetch.

    Yields the same ({"token_ids", "image"}, one-hot label) batches as
    `meme_dataset` on the same memes in the same order: parsing a batch of
    records at once (`tf.io.parse_example`) rather than one by one, and
    decoding in the same per-batch step, makes one function call per batch."""
    inputs = batch_inputs(modalities, vectorizer, image_size)

    def parse(records):
        example = tf.io.parse_example(records, FEATURES)
        features = {"text": example["text"], "image_bytes": example["image"]}
        return inputs(features, tf.one_hot(example["label"], num_classes))

    ds = tf.data.TFRecordDataset(files, buffer_size=READ_BUFFER)
    ds = ds.batch(batch_size).map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def opencv_decode(paths, image_size, threads):
    """A callable that reads, decodes (`cv2.imdecode`, BGR) and resizes
    (`cv2.resize`, bilinear) every file of `paths` on `threads` threads."""
    import cv2

    def one(path):
        with open(path, "rb") as f:
            image = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
        return cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_LINEAR)

    def run():
        if threads == 1:
            for path in paths:
                one(path)
            return
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(one, paths, chunksize=16):
                pass

    return run


def thread_counts():
    """1, 2, 4, ... up to the number of cores (and that number)."""
    cores = os.cpu_count() or 1
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    return sorted(set(counts + [cores]))


def input_sources(frame, image_size=128, batch_size=32, workdir=None, repeats=5):
    """images/s of OpenCV (per thread count), TF's decode+resize alone, the
    pipeline from files and from one TFRecord file, on the memes of `frame`."""
    import cv2

    from memotion_tf.preprocessing.text import SequenceVectorizer

    vectorizer = SequenceVectorizer(192)
    vectorizer.adapt(frame["text"])
    paths = list(frame["image_path"])
    encoded = []
    for path in paths:
        with open(path, "rb") as f:
            encoded.append(f.read())
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        records = write_tfrecords(frame, os.path.join(tmp, "memes.tfrecord"))
        threads = thread_counts()
        runs = [opencv_decode(paths, image_size, n) for n in threads]
        runs.append(tf.data.Dataset.from_tensor_slices(np.asarray(encoded, dtype=object))
                    .map(lambda b: decode_image(b, image_size), num_parallel_calls=AUTOTUNE)
                    .batch(batch_size).prefetch(AUTOTUNE))
        pipeline = dict(modalities=("text", "image"), batch_size=batch_size, num_classes=3,
                        vectorizer=vectorizer, image_size=image_size)
        runs.append(meme_dataset(frame, **pipeline))
        runs.append(tfrecord_dataset([records], **pipeline))
        opencv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # one row per thread count: the pool's threads only
        try:
            found = interleaved_throughput(runs, len(frame), repeats=repeats, warmup=True)
        finally:
            cv2.setNumThreads(opencv_threads)
        rates = [f.rate for f in found]
        return {"memes": len(frame), "image_size": image_size, "batch_size": batch_size, "repeats": repeats,
                "tfrecord_mib": os.path.getsize(records) / 2**20,
                "opencv_images_per_s": dict(zip(threads, rates[:len(threads)])),
                "tf_decode_images_per_s": rates[-3], "files_images_per_s": rates[-2],
                "tfrecords_images_per_s": rates[-1],
                "iterator_setup_s": {"tf_decode": found[-3].setup_s, "files": found[-2].setup_s,
                                     "tfrecords": found[-1].setup_s}}


def targets(r):
    """The section's two speed targets."""
    threads, opencv = max(r["opencv_images_per_s"].items(), key=lambda item: item[1])
    files = r["files_images_per_s"]
    return [Target(f"input pipeline from files / OpenCV ({threads} thread{'s' * (threads > 1)})",
                   files / opencv, 0.9),
            Target("input pipeline from one TFRecord file / from files", r["tfrecords_images_per_s"] / files, 1.0)]


def report(r):
    """The section's lines for `make bench`."""
    best = max(r["opencv_images_per_s"].values())
    lines = [f"Input pipeline ({r['memes']} memes, {r['image_size']}x{r['image_size']}, batch {r['batch_size']}; "
             f"same run, best of {r['repeats']} alternating rounds; x = over the best OpenCV row):"]
    # (label, images/s, seconds to make its iterator: None for OpenCV, which has none)
    rows = [(f"OpenCV read+imdecode+resize, {threads} thread{'s' * (threads > 1)}", rate, None)
            for threads, rate in r["opencv_images_per_s"].items()]
    setup = r.get("iterator_setup_s", {})
    rows += [("TF decode+resize alone (bytes in memory)", r["tf_decode_images_per_s"], setup.get("tf_decode")),
             ("pipeline from image files", r["files_images_per_s"], setup.get("files")),
             ("pipeline from one TFRecord file", r["tfrecords_images_per_s"], setup.get("tfrecords"))]
    for label, rate, setup_s in rows:
        line = f"  {label:<42}{rate:8.1f} images/s   {rate / best:.2f}x"
        if setup_s is not None:
            line += f"   (+ {setup_s:.2f} s to make its iterator, once an epoch)"
        lines.append(line)
    lines[-1] += f"   ({r['tfrecord_mib']:.1f} MiB)"
    return "\n".join(lines)


def main(argv=None, frame=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1600, help="synthetic memes, when no frame is given")
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="memotion-bench-input-") as tmp:
        if frame is None:
            frame = synthetic_memes(os.path.join(tmp, "memes"), args.size)
        result = input_sources(frame, image_size=args.image_size, workdir=tmp)
    print(report(result))
    found = targets(result)
    for target in found:
        print("  " + target.line())
    return found


if __name__ == "__main__":
    main()
