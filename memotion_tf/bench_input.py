"""`make bench`, input section: the training input pipeline read from TFRecords
vs. from image files vs. decoding and resizing alone, side by side in one run.

    python -m memotion_tf.bench_input [--size 1600] [--image-size 128]

The three datasets see the same memes, alternate round by round
(`bench.interleaved_throughput`) and report images/s:

1. decode+resize alone: the encoded images already in memory, only
   `preprocessing.image.decode_image` (the floor the other two pay too);
2. from image files: `input_pipeline.meme_dataset`, what training runs (read
   each file, decode, resize, batch, vectorise the text);
3. from TFRecords: the same steps on one TFRecord file of serialized
   `tf.train.Example`s (encoded image bytes, text, label) instead of files.

The ratios to (1) show what reading and the rest of the pipeline cost on top
of decoding; the TFRecord / files ratio shows what one sequential file buys
over one file per meme (on a local disk with a warm cache, little; on network
storage, more).
"""

import argparse
import os
import tempfile

import tensorflow as tf

from memotion_tf.preprocessing.image import decode_image

AUTOTUNE = tf.data.AUTOTUNE
FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "text": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
}


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
    """The `meme_dataset` steps on TFRecords: parse -> decode -> batch -> vectorise -> prefetch.

    Yields the same ({"token_ids", "image"}, one-hot label) batches as
    `meme_dataset` on the same memes in the same order."""
    from memotion_tf.input_pipeline import text_inputs

    def decode(record):
        example = tf.io.parse_single_example(record, FEATURES)
        features = {"text": example["text"]}
        if "image" in modalities:
            features["image"] = decode_image(example["image"], image_size)
        return features, tf.one_hot(example["label"], num_classes)

    def vectorise(features, label):
        out = text_inputs(vectorizer, features["text"]) if "text" in modalities else {}
        if "image" in modalities:
            out["image"] = features["image"]
        return out, label

    ds = tf.data.TFRecordDataset(files)
    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size).map(vectorise, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def input_sources(data_dir, image_size=128, batch_size=32, workdir=None):
    """images/s of decode+resize alone, the pipeline from files and from TFRecords."""
    import numpy as np

    from memotion_tf.bench import interleaved_throughput
    from memotion_tf.config import ExperimentConfig
    from memotion_tf.experiments import prepare_data
    from memotion_tf.input_pipeline import meme_dataset
    from memotion_tf.preprocessing.text import SequenceVectorizer

    frame = prepare_data(ExperimentConfig(), data_dir, progress=False).frame
    vectorizer = SequenceVectorizer(192)
    vectorizer.adapt(frame["text"])
    encoded = []
    for path in frame["image_path"]:
        with open(path, "rb") as f:
            encoded.append(f.read())
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        records = write_tfrecords(frame, os.path.join(tmp, "memes.tfrecord"))
        decode_only = (tf.data.Dataset.from_tensor_slices(np.asarray(encoded, dtype=object))
                       .map(lambda b: decode_image(b, image_size), num_parallel_calls=AUTOTUNE)
                       .batch(batch_size).prefetch(AUTOTUNE))
        pipeline = dict(modalities=("text", "image"), batch_size=batch_size, num_classes=3,
                        vectorizer=vectorizer, image_size=image_size)
        from_files = meme_dataset(frame, **pipeline)
        from_records = tfrecord_dataset([records], **pipeline)
        alone, files, tfrecords = interleaved_throughput([decode_only, from_files, from_records], len(frame))
        return {"memes": len(frame), "image_size": image_size, "batch_size": batch_size,
                "tfrecord_mib": os.path.getsize(records) / 2**20,
                "decode_resize_images_per_s": alone, "files_images_per_s": files,
                "tfrecords_images_per_s": tfrecords}


def report(r):
    """The section's lines for `make bench`."""
    alone = r["decode_resize_images_per_s"]
    return "\n".join([
        f"Input pipeline sources ({r['memes']} memes, {r['image_size']}x{r['image_size']}, "
        f"batch {r['batch_size']}, same run, best of 3 alternating rounds):",
        f"  decode+resize alone (bytes in memory) {alone:8.1f} images/s",
        f"  pipeline from image files             {r['files_images_per_s']:8.1f} images/s"
        f"   ({r['files_images_per_s'] / alone:.2f} x decode alone)",
        f"  pipeline from one TFRecord file       {r['tfrecords_images_per_s']:8.1f} images/s"
        f"   ({r['tfrecords_images_per_s'] / alone:.2f} x decode alone, "
        f"{r['tfrecords_images_per_s'] / r['files_images_per_s']:.2f} x files; {r['tfrecord_mib']:.1f} MiB)",
    ])


def main(argv=None, data_dir=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1600, help="synthetic memes, when no data_dir is given")
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="memotion-bench-input-") as tmp:
        if data_dir is None:
            from memotion_tf.datasets.memotion7k import write_synthetic_memotion7k

            data_dir = write_synthetic_memotion7k(os.path.join(tmp, "memes"), size=args.size, seed=0)
        print(report(input_sources(data_dir, image_size=args.image_size, workdir=tmp)))


if __name__ == "__main__":
    main()
