"""`make bench`, RandAugment section: images/s of our RandAugment
(`preprocessing.randaugment.rand_augment`) and of `keras.layers.RandAugment`.

    python -m memotion_tf.benchmarks.randaugment   # about 2 minutes on 2 CPU cores

Both run side by side in one process on the same random float images in
[0, 1], through the same tf.data pipeline (slices -> batch -> map -> prefetch)
with the same N and M (`factor = M / 30` for Keras, nominally the same
strength; the two op sets and magnitude mappings differ). After one untimed
batch each (tracing), the two pipelines are timed in alternating rounds and
the best round of each counts. A round is timed from the moment its new
iterator exists: making one (tf.data optimises the map function's graph,
about 2,000 ops for ours at N=14: 1.3-2.4 s here, Keras' about as long) is
paid once per epoch and is printed apart; counted in, it was most of a
round of 64 images at N=14 (2.7 s, 0.6 of them augmenting). Settings:
Keras' default N=2 with a common M=9, and CN-HIT-MI.T's N=14, M=11 (on fewer
images: Keras evaluates all its ops 14 times per batch there, a few images/s
on 2 cores). Target: ours >= 10x Keras at both.
"""

import keras
import tensorflow as tf

from memotion_tf.benchmarks.common import Target, interleaved_throughput
from memotion_tf.preprocessing.randaugment import MAX_MAGNITUDE, rand_augment, seed_dataset

AUTOTUNE = tf.data.AUTOTUNE
# (N, M, images per round, timed rounds)
SETTINGS = ((2, 9, 256, 3), (14, 11, 128, 2))


def _pipeline(data, augment, batch_size):
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    ds = tf.data.Dataset.zip(ds, seed_dataset(0))
    return ds.map(augment, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def randaugment_throughput(images=256, size=224, num_ops=2, magnitude=9, batch_size=32, seed=0,
                           repeats=2):
    """Return (ours, keras) `common.Throughput`s (images/s, iterator set-up) measured in one run.

    Args:
        images: random images per timed round.
        size: square image side in pixels.
        num_ops, magnitude: RandAugment N and M (0..30 scale) for both.
        batch_size: images per map call; Keras picks its ops per batch, we per image.
        seed: seed of the random images and of both augmenters.
        repeats: timed rounds of each pipeline, alternating; the best counts.
    """
    data = tf.random.stateless_uniform([images, size, size, 3], seed=[seed, 0])
    keras_layer = keras.layers.RandAugment(value_range=(0, 1), num_ops=num_ops,
                                           factor=magnitude / MAX_MAGNITUDE, seed=seed)

    def ours(batch, batch_seed):
        return rand_augment(batch, batch_seed, num_ops=num_ops, magnitude=magnitude)

    def theirs(batch, batch_seed):
        del batch_seed  # the layer keeps its own seed generator
        return keras_layer(batch, training=True)

    pipelines = [_pipeline(data, fn, batch_size) for fn in (ours, theirs)]
    for pipeline in pipelines:  # tracing and graph set-up, untimed
        for _ in pipeline.take(1):
            pass
    return interleaved_throughput(pipelines, images, repeats)


def main(settings=SETTINGS):
    print("RandAugment, ours vs keras.layers.RandAugment (224x224, batch 32, same images, same run, "
          "best of alternating rounds):")
    found = []
    for num_ops, magnitude, images, repeats in settings:
        ours, theirs = randaugment_throughput(images=images, num_ops=num_ops, magnitude=magnitude,
                                              repeats=repeats)
        print(f"  N={num_ops:<2d} M={magnitude:<2d}: ours {ours.rate:7.1f} images/s, keras.layers.RandAugment "
              f"{theirs.rate:6.1f} images/s ({images} images, {repeats} rounds; making an iterator, once an "
              f"epoch: ours {ours.setup_s:.2f} s, keras {theirs.setup_s:.2f} s)")
        found.append(Target(f"RandAugment N={num_ops}, M={magnitude}: ours / keras.layers.RandAugment",
                            ours.rate / theirs.rate, 10.0))
        print("  " + found[-1].line())
    return found


if __name__ == "__main__":
    main()
