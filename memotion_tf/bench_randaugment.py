"""Images per second of our RandAugment against `keras.layers.RandAugment`.

Both run side by side in one process on the same random float images in
[0, 1], through the same tf.data pipeline (slices -> batch -> map -> prefetch)
with the same N and M (`factor = M / 30` for Keras, nominally the same strength;
the two op sets and magnitude mappings differ). After one untimed pass each,
the two pipelines are timed alternately and the best pass of each counts.

    .venv/bin/python -m memotion_tf.bench_randaugment   # about 2 minutes on 2 CPU cores
"""


import keras
import tensorflow as tf

from memotion_tf.bench import interleaved_throughput
from memotion_tf.preprocessing.randaugment import MAX_MAGNITUDE, rand_augment, seed_dataset

AUTOTUNE = tf.data.AUTOTUNE


def _pipeline(data, augment, batch_size):
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    ds = tf.data.Dataset.zip(ds, seed_dataset(0))
    return ds.map(augment, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def randaugment_throughput(images=256, size=224, num_ops=2, magnitude=9, batch_size=32, seed=0,
                           repeats=2):
    """Return (ours_images_per_s, keras_images_per_s) measured in one run.

    Args:
        images: random images per timed pass.
        size: square image side in pixels.
        num_ops, magnitude: RandAugment N and M (0..30 scale) for both.
        batch_size: images per map call; Keras picks its ops per batch, we per image.
        seed: seed of the random images and of both augmenters.
        repeats: timed passes of each pipeline, alternating; the best counts.
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
    ours_rate, keras_rate = interleaved_throughput(pipelines, images, repeats, warmup=True)
    return ours_rate, keras_rate


def main():
    # Keras' default N with a common M, then CN-HIT-MI.T's N=14, M=11 on fewer
    # images and one timed pass, because Keras evaluates all 11 ops 14 times
    # per batch there (about 4 images/s on 2 cores).
    for images, num_ops, magnitude, repeats in ((256, 2, 9, 2), (128, 14, 11, 1)):
        ours, theirs = randaugment_throughput(images=images, num_ops=num_ops, magnitude=magnitude,
                                              repeats=repeats)
        print(f"  RandAugment N={num_ops} M={magnitude} 224x224: ours {ours:.1f} images/s, "
              f"keras.layers.RandAugment {theirs:.1f} images/s ({ours / theirs:.1f}x)")


if __name__ == "__main__":
    main()
