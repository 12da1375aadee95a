"""`make bench`: speed and memory figures measured side by side in one run.

1. Input pipeline: images/s of the full training pipeline (read, decode,
   resize, vectorise text, batch) as a ratio to decode+resize alone, on the
   same files in the same run; then the same pipeline fed from one TFRecord
   file vs from the image files (`bench_input`).
2. Peak memory (RSS) of one training epoch at 1x and 4x the number of memes,
   each in a fresh process: the pipeline streams images from disk, so 4x the
   memes should cost about the same memory.
3. RandAugment (CN-HIT-MI.T): images/s of ours and of keras.layers.RandAugment
   on the same images in the same run (`bench_randaugment`).
4. Training steps/s with 1 replica (`fit` and our loop), 2 logical-CPU
   replicas (MirroredStrategy) and 2 local workers (MultiWorkerMirroredStrategy)
   (`bench_distribute`). On a 2-core CPU this is informative only: the
   replicas share the same two cores.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def interleaved_throughput(datasets, count, repeats=3, warmup=False):
    """Best images/s of each dataset over `repeats` rounds, alternating between
    them so both see the same file cache and machine load. `warmup` adds one
    untimed pass of each first (e.g. to instantiate every `Case` branch)."""
    for ds in datasets if warmup else ():
        for _ in ds:
            pass
    best = [0.0] * len(datasets)
    for _ in range(repeats):
        for i, ds in enumerate(datasets):
            start = time.perf_counter()
            for _ in ds:
                pass
            best[i] = max(best[i], count / (time.perf_counter() - start))
    return best


def pipeline_ratio(data_dir, image_size=128, batch_size=32):
    import tensorflow as tf

    from memotion_tf.config import ExperimentConfig
    from memotion_tf.experiments import prepare_data
    from memotion_tf.input_pipeline import meme_dataset
    from memotion_tf.preprocessing.image import load_image
    from memotion_tf.preprocessing.text import SequenceVectorizer

    data = prepare_data(ExperimentConfig(), data_dir, progress=False)
    frame = data.frame
    vectorizer = SequenceVectorizer(192)
    vectorizer.adapt(frame["text"])
    decode_only = (
        tf.data.Dataset.from_tensor_slices(frame["image_path"].to_numpy())
        .map(lambda p: load_image(p, image_size), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    full = meme_dataset(frame, modalities=("text", "image"), batch_size=batch_size, num_classes=3,
                        vectorizer=vectorizer, image_size=image_size)
    alone, ours = interleaved_throughput([decode_only, full], len(frame))
    return {"memes": len(frame), "decode_resize_images_per_s": alone,
            "pipeline_images_per_s": ours, "ratio": ours / alone}


def _epoch_child(data_dir):
    """Run in a subprocess: one CNN-LSTM-TI epoch, then print peak RSS (MiB)."""
    import resource

    import tensorflow as tf

    from memotion_tf import config as config_lib
    from memotion_tf.experiments import config_files, prepare_data, train_once

    config = config_lib.load_config(config_files("uor")[5], "quick", ["epochs=1", "val_fraction=0.1"])
    data = prepare_data(config, data_dir, progress=False)
    train_once(config, data, seed=0, strategy=tf.distribute.get_strategy(), verbose=0)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"memes": len(data.frame), "peak_rss_mib": peak_kib / 1024}))


def epoch_memory(data_dir):
    out = subprocess.run([sys.executable, "-m", "memotion_tf.bench", "--epoch-child", data_dir],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=400, help="memes in the 1x data set")
    parser.add_argument("--epoch-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epoch_child:
        _epoch_child(args.epoch_child)
        return
    from memotion_tf.datasets.memotion7k import write_synthetic_memotion7k

    with tempfile.TemporaryDirectory(prefix="memotion-bench-") as tmp:
        small = write_synthetic_memotion7k(os.path.join(tmp, "x1"), size=args.size, seed=0)
        large = write_synthetic_memotion7k(os.path.join(tmp, "x4"), size=4 * args.size, seed=0)
        print("Input pipeline (same files, same run):")
        p = pipeline_ratio(large)
        print(f"  decode+resize alone      {p['decode_resize_images_per_s']:8.1f} images/s")
        print(f"  full training pipeline   {p['pipeline_images_per_s']:8.1f} images/s")
        print(f"  ratio pipeline / decode  {p['ratio']:8.2f}   ({p['memes']} memes, 128x128, batch 32)")
        from memotion_tf import bench_input

        print(bench_input.report(bench_input.input_sources(large, workdir=tmp)))
        print("Peak RSS of one CNN-LSTM-TI training epoch (fresh process each):")
        m1, m4 = epoch_memory(small), epoch_memory(large)
        print(f"  1x ({m1['memes']:5d} memes)  {m1['peak_rss_mib']:8.1f} MiB")
        print(f"  4x ({m4['memes']:5d} memes)  {m4['peak_rss_mib']:8.1f} MiB")
        print(f"  ratio 4x / 1x            {m4['peak_rss_mib'] / m1['peak_rss_mib']:8.2f}")
    from memotion_tf import bench_randaugment

    print("RandAugment, ours vs keras.layers.RandAugment (same images, same run):")
    bench_randaugment.main()
    from memotion_tf import bench_distribute

    bench_distribute.main([])


if __name__ == "__main__":
    main()
