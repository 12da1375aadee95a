"""RandAugment for tf.data that computes only the operation it applies.

CN-HIT-MI.T (section 3.1) trains ResNet-101 with RandAugment, N = 14 and
M = 11. `keras.layers.RandAugment` picks one set of operations per *batch* and
evaluates all 11 of its operations at every step, selecting one with
`where`. Here each image draws its own operations, and each step is a
`tf.switch_case`, so only the chosen branch runs (in a graph, a `Case` op
executes one function; eagerly, one Python branch is called).

Randomness is stateless: every draw comes from `tf.random.stateless_*` with an
explicit `[2]` integer seed, so the same seed gives the same result eagerly and
inside `ds.map`. A batch derives one seed per image from its seed; the
`RandAugment` class draws a fresh seed per call from a `tf.random.Generator`
when none is given, and `seed_dataset` gives a seed stream to zip with a
dataset for reproducible per-element seeds that change every epoch.

Images are float `[height, width, 3]` or `[batch, height, width, 3]` in
`[0, max_value]` (1.0 by default, as `preprocessing.image.decode_image`
returns; pass 255.0 for raw pixel values). The output has the same shape and
dtype and is clipped to `[0, max_value]`.

Magnitude mapping. `M` is on the 0..30 scale of Cubuk et al. (the scale on
which the paper's M = 11 lies inside the range) and `level = M / 30`. Signed
operations draw a random sign per application. Pixel values below are in
`[0, 1]` units.

| op           | parameter at `level`                           | at M = 11          |
|--------------|------------------------------------------------|--------------------|
| identity     | none                                           |                    |
| autocontrast | none: each channel stretched to [0, 1]         |                    |
| equalize     | none: per-channel histogram equalisation       |                    |
| rotate       | angle = +-30 deg x level                       | +-11 deg           |
| solarize     | invert 8-bit values >= 256 x (1 - level)       | >= 162             |
| color        | saturation factor = 1 +- 0.9 x level           | 0.67 or 1.33       |
| posterize    | bits kept = 8 - floor(4 x level)               | 7 bits             |
| contrast     | contrast factor = 1 +- 0.9 x level             | 0.67 or 1.33       |
| brightness   | brightness factor = 1 +- 0.9 x level           | 0.67 or 1.33       |
| sharpness    | sharpness factor = 1 +- 0.9 x level            | 0.67 or 1.33       |
| shear_x      | x shift = +-0.3 x level x (y - centre)         | +-0.11             |
| shear_y      | y shift = +-0.3 x level x (x - centre)         | +-0.11             |
| translate_x  | shift = +-0.45 x level x width                 | +-16.5% of width   |
| translate_y  | shift = +-0.45 x level x height                | +-16.5% of height  |

The maxima (30 degrees, shear 0.3, translation 0.45 of the side, 4 bits,
solarize threshold down to 0) are AutoAugment's ranges, which RandAugment
reuses. Enhancement factors use the signed mapping `1 +- 0.9 x level`, so
M = 0 is the identity for every op; Cubuk et al.'s unsigned `0.1 + 1.8 x level`
makes M = 0 the strongest desaturation/darkening, which we do not reproduce.

Approximations, with reasons:
- equalize quantises to 256 levels and uses the CDF mapping
  `round((cdf - cdf_min) / (pixels - cdf_min) x 255)` per channel (OpenCV's
  form); PIL's `ImageOps.equalize` uses a slightly different step rounding, so
  values may differ by a grey level. A constant channel is left unchanged.
- contrast blends towards the mean of the greyscale image (as PIL does), but
  without PIL's rounding of that mean to an integer.
- sharpness blends with PIL's 3x3 smoothing kernel; the one-pixel border keeps
  its original values, as in PIL (images must be at least 3x3).
- affine ops use bilinear interpolation and fill uncovered pixels with
  `fill_value` (mid grey by default, AutoAugment's 128).
- posterize and solarize act on the 8-bit value `round(x x 255)`.

Reference: Cubuk et al., "RandAugment: Practical automated data augmentation
with a reduced search space", 2019; Li et al., "CN-HIT-MI.T at SemEval-2020
Task 8", 2020.
"""

import functools
import math

import tensorflow as tf

MAX_MAGNITUDE = 30.0
MAX_ROTATE_DEGREES = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 0.45
MAX_ENHANCE = 0.9
MAX_POSTERIZE_BITS_REMOVED = 4
# PIL's ImageFilter.SMOOTH kernel, used by ImageEnhance.Sharpness.
_SMOOTH_KERNEL = ((1.0, 1.0, 1.0), (1.0, 5.0, 1.0), (1.0, 1.0, 1.0))


# === Operations on float32 images in [0, 1] ===
#
# Each op takes one image `[h, w, 3]` with a scalar `sign`, or a batch
# `[k, h, w, 3]` with one sign per image `[k]`, and treats every image on its
# own (per-image extrema, histograms, means and transforms). `rand_augment`
# applies an op to all the images of a batch that drew it at once (see
# `_augment_batch`); one image goes through the same code as a batch of one.

def _batched(op):
    """Let `op(images [k, h, w, 3], level, signs [k], fill_value)` take one image too."""

    @functools.wraps(op)
    def wrapper(image, level, sign, fill_value):
        if image.shape.rank == 3:
            return op(image[None], level, tf.reshape(sign, [1]), fill_value)[0]
        return op(image, level, sign, fill_value)

    return wrapper


def _per_image(value):
    """A scalar or `[k]` per-image value, shaped to broadcast over `[k, h, w, c]`."""
    return tf.reshape(tf.cast(value, tf.float32), [-1, 1, 1, 1])


def _blend(degenerate, image, factor):
    """PIL ImageEnhance: factor 0 gives `degenerate`, 1 the image, >1 extrapolates."""
    return tf.clip_by_value(degenerate + factor * (image - degenerate), 0.0, 1.0)


def _enhance_factor(level, sign):
    return _per_image(1.0 + sign * level * MAX_ENHANCE)


def _affine(images, transforms, fill_value):
    """`transforms[i]` maps each output pixel (x, y) of image i to the input
    point it samples, in ImageProjectiveTransformV3's [a0, a1, a2, b0, b1, b2,
    c0, c1] form; `images` `[k, h, w, 3]`, `transforms` `[k, 8]`."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.shape(images)[1:3],
        fill_value=tf.cast(fill_value, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _transforms(*entries):
    """`[k, 8]` transforms from 8 entries, each `[k]` or a number (the same for all)."""
    size = tf.shape(next(e for e in entries if isinstance(e, tf.Tensor)))
    return tf.stack([e if isinstance(e, tf.Tensor) else tf.fill(size, float(e)) for e in entries], axis=1)


def _centre(images):
    size = tf.cast(tf.shape(images)[1:3], tf.float32)
    return (size[1] - 1.0) / 2.0, (size[0] - 1.0) / 2.0


def _to_8bit(images):
    """`round(x * 255)` as floats holding integers 0..255 (exact, and no casts)."""
    return tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0)


@_batched
def identity(images, level, sign, fill_value):
    del level, sign, fill_value
    return images


@_batched
def autocontrast(images, level, sign, fill_value):
    del level, sign, fill_value
    # Per image and channel, reduced over a [k, 3, pixels] view along its
    # contiguous axis: several times faster than over the two image axes.
    shape = tf.shape(images)
    channels = tf.transpose(tf.reshape(images, [shape[0], -1, 3]), [0, 2, 1])
    low = tf.reduce_min(channels, axis=2)[:, None, None, :]
    high = tf.reduce_max(channels, axis=2)[:, None, None, :]
    # A constant channel has no range to stretch; PIL leaves it as is.
    flat = high <= low
    scale = tf.where(flat, tf.ones_like(high), 1.0 / tf.where(flat, tf.ones_like(high), high - low))
    offset = tf.where(flat, tf.zeros_like(low), low)
    return tf.clip_by_value((images - offset) * scale, 0.0, 1.0)


@_batched
def equalize(images, level, sign, fill_value):
    del level, sign, fill_value
    values = tf.cast(_to_8bit(images), tf.int32)
    count = tf.shape(images)[0]
    # One bincount for every image and channel: image i's channel c has bins
    # 768i + 256c .. 768i + 256c + 255.
    bins = values + 256 * tf.range(3) + 768 * tf.range(count)[:, None, None, None]
    histogram = tf.math.bincount(tf.reshape(bins, [-1]), minlength=768 * count,
                                 maxlength=768 * count, dtype=tf.int32)
    histogram = tf.reshape(histogram, [count, 3, 256])
    cdf = tf.cast(tf.cumsum(histogram, axis=2), tf.float32)
    pixels = cdf[:, :, -1:]
    cdf_min = tf.reduce_min(tf.where(histogram > 0, cdf, pixels), axis=2, keepdims=True)
    spread = pixels - cdf_min
    lut = tf.round((cdf - cdf_min) / tf.maximum(spread, 1.0) * 255.0)
    lut = tf.where(spread > 0, lut, tf.cast(tf.range(256), tf.float32))
    # Scaled to [0, 1] in the table rather than after the lookup.
    return tf.gather(tf.reshape(lut / 255.0, [-1]), bins)


@_batched
def rotate(images, level, sign, fill_value):
    angle = sign * level * MAX_ROTATE_DEGREES * math.pi / 180.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx, cy = _centre(images)
    # Rotation about the image centre (which maps to itself).
    return _affine(images, _transforms(cos, -sin, cx - cos * cx + sin * cy,
                                       sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0), fill_value)


@_batched
def solarize(images, level, sign, fill_value):
    del sign, fill_value
    threshold = tf.cast(tf.cast(256.0 * (1.0 - level), tf.int32), tf.float32)
    values = _to_8bit(images)
    return tf.where(values >= threshold, 255.0 - values, values) / 255.0


@_batched
def color(images, level, sign, fill_value):
    del fill_value
    # [k, h, w, 1], broadcast over the channels by the blend.
    grey = tf.image.rgb_to_grayscale(images)
    return _blend(grey, images, _enhance_factor(level, sign))


@_batched
def posterize(images, level, sign, fill_value):
    del sign, fill_value
    # Dropping the low bits of an 8-bit value: floor(v / 2^bits) x 2^bits, exact in floats.
    dropped = tf.cast(tf.floor(level * MAX_POSTERIZE_BITS_REMOVED), tf.int32)
    step = tf.cast(tf.bitwise.left_shift(1, dropped), tf.float32)
    return tf.floor(_to_8bit(images) / step) * step / 255.0


@_batched
def contrast(images, level, sign, fill_value):
    del fill_value
    mean = tf.reduce_mean(tf.image.rgb_to_grayscale(images), axis=[1, 2, 3], keepdims=True)
    return _blend(mean, images, _enhance_factor(level, sign))


@_batched
def brightness(images, level, sign, fill_value):
    del fill_value
    return _blend(tf.zeros_like(images), images, _enhance_factor(level, sign))


@_batched
def sharpness(images, level, sign, fill_value):
    del fill_value
    kernel = tf.constant(_SMOOTH_KERNEL, tf.float32)
    kernel = tf.tile((kernel / tf.reduce_sum(kernel))[:, :, None, None], [1, 1, 3, 1])
    size = tf.shape(images)
    smooth = tf.nn.depthwise_conv2d(images, kernel, strides=[1, 1, 1, 1], padding="VALID")
    # On an empty batch the convolution keeps the input's size; its VALID size is h-2, w-2.
    smooth = smooth[:, :size[1] - 2, :size[2] - 2]
    # PIL keeps the one-pixel border of the original image.
    smooth = tf.pad(smooth, [[0, 0], [1, 1], [1, 1], [0, 0]])
    interior = tf.pad(tf.ones(size[1:3] - 2), [[1, 1], [1, 1]])[None, :, :, None] > 0
    smooth = tf.where(interior, smooth, images)
    return _blend(smooth, images, _enhance_factor(level, sign))


@_batched
def shear_x(images, level, sign, fill_value):
    shear = sign * level * MAX_SHEAR
    _, cy = _centre(images)
    return _affine(images, _transforms(1.0, shear, -shear * cy, 0.0, 1.0, 0.0, 0.0, 0.0), fill_value)


@_batched
def shear_y(images, level, sign, fill_value):
    shear = sign * level * MAX_SHEAR
    cx, _ = _centre(images)
    return _affine(images, _transforms(1.0, 0.0, 0.0, shear, 1.0, -shear * cx, 0.0, 0.0), fill_value)


@_batched
def translate_x(images, level, sign, fill_value):
    shift = sign * level * MAX_TRANSLATE * tf.cast(tf.shape(images)[2], tf.float32)
    return _affine(images, _transforms(1.0, 0.0, shift, 0.0, 1.0, 0.0, 0.0, 0.0), fill_value)


@_batched
def translate_y(images, level, sign, fill_value):
    shift = sign * level * MAX_TRANSLATE * tf.cast(tf.shape(images)[1], tf.float32)
    return _affine(images, _transforms(1.0, 0.0, 0.0, 0.0, 1.0, shift, 0.0, 0.0), fill_value)


OPS = (identity, autocontrast, equalize, rotate, solarize, color, posterize, contrast,
       brightness, sharpness, shear_x, shear_y, translate_x, translate_y)
OP_NAMES = tuple(op.__name__ for op in OPS)


# === Policy sampling and application ===

def magnitude_to_level(magnitude):
    """Cubuk et al.'s M on the 0..30 scale -> level in [0, 1]."""
    return min(max(float(magnitude) / MAX_MAGNITUDE, 0.0), 1.0)


def sample_policy(seed, num_ops):
    """The ops and signs one image gets from `seed`: int32 indices into `OPS`
    `[num_ops]` and float32 signs (+1/-1) `[num_ops]`."""
    draws = tf.random.stateless_uniform([num_ops, 2], seed=seed)
    op_indices = tf.minimum(tf.cast(draws[:, 0] * len(OPS), tf.int32), len(OPS) - 1)
    signs = tf.where(draws[:, 1] < 0.5, -1.0, 1.0)
    return op_indices, signs


def per_image_seeds(seed, batch_size):
    """`[batch_size, 2]` seeds, one per image of a batch, derived from `seed`."""
    seed = tf.convert_to_tensor(seed)
    return tf.random.stateless_uniform(tf.stack([batch_size, 2]), seed=seed, minval=None,
                                       maxval=None, dtype=seed.dtype)


def apply_op(image, op_index, level, sign, fill_value=0.5):
    """Apply the op `OPS[op_index]` to one float32 [h, w, 3] image in [0, 1]; only
    that branch is computed."""
    branches = [functools.partial(op, image, level, sign, fill_value) for op in OPS]
    out = tf.switch_case(op_index, branches)
    return tf.ensure_shape(out, image.shape)


def _augment_one(image, seed, num_ops, level, fill_value):
    op_indices, signs = sample_policy(seed, num_ops)
    for step in range(num_ops):
        image = apply_op(image, op_indices[step], level, signs[step], fill_value)
    return image


def _augment_batch(images, seeds, num_ops, level, fill_value):
    """What `_augment_one` gives each image with its seed, computed op by op:
    at every step the images that drew the same op go through it together
    (`tf.dynamic_partition`, then `tf.dynamic_stitch` back into place).

    No `Case` and no loop over images: inside `tf.data` each `Case` (or
    `tf.map_fn` step) is a function call costing far more than the op itself
    (several times the whole augmentation at N = 14); here every op runs as
    plain ops, once per step on its share of the batch (often none)."""
    op_indices, signs = tf.map_fn(lambda seed: sample_policy(seed, num_ops), seeds,
                                  fn_output_signature=(tf.TensorSpec([num_ops], tf.int32),
                                                       tf.TensorSpec([num_ops], tf.float32)))
    positions = tf.range(tf.shape(images)[0])
    for step in range(num_ops):
        ops = op_indices[:, step]
        groups = tf.dynamic_partition(images, ops, len(OPS))
        group_signs = tf.dynamic_partition(signs[:, step], ops, len(OPS))
        where = tf.dynamic_partition(positions, ops, len(OPS))
        outputs = [op(group, level, sign, fill_value) for op, group, sign in zip(OPS, groups, group_signs)]
        images = tf.ensure_shape(tf.dynamic_stitch(where, outputs), images.shape)
    return images


def rand_augment(images, seed, num_ops=2, magnitude=9, max_value=1.0, fill_value=0.5):
    """Stateless RandAugment of one image or a batch, each image with its own ops.

    Args:
        images: float `[h, w, 3]` or `[batch, h, w, 3]` in `[0, max_value]`.
        seed: int32/int64 `[2]` tensor; the same seed gives the same output.
            A batch derives one seed per image from it.
        num_ops: N, operations applied one after another to every image.
        magnitude: M on the 0..30 scale (see the module table).
        max_value: top of the pixel range, 1.0 or 255.0.
        fill_value: value of pixels uncovered by the affine ops, as a fraction
            of `max_value`.

    Example:
    >>> images = tf.random.uniform([4, 32, 32, 3])
    >>> out = rand_augment(images, seed=tf.constant([1, 2]), num_ops=14, magnitude=11)
    >>> out.shape  # TensorShape([4, 32, 32, 3]), values in [0, 1]

    Reference: Cubuk et al., "RandAugment", 2019 (arXiv:1909.13719).
    """
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        raise TypeError(f"rand_augment expects float images, got {images.dtype.name}")
    if images.shape.rank not in (3, 4):
        raise ValueError(f"images must be [h, w, 3] or [batch, h, w, 3], got shape {images.shape}")
    if images.shape[-1] is not None and images.shape[-1] != 3:
        raise ValueError(f"rand_augment needs RGB images (3 channels), got {images.shape[-1]}")
    dtype = images.dtype
    level = magnitude_to_level(magnitude)
    # Every op works on [0, 1]; scaling here keeps the ops free of max_value.
    x = tf.cast(images, tf.float32) / max_value
    seed = tf.convert_to_tensor(seed)
    if images.shape.rank == 3:
        x = _augment_one(x, seed, num_ops, level, fill_value)
    else:
        x = _augment_batch(x, per_image_seeds(seed, tf.shape(x)[0]), num_ops, level, fill_value)
    x = tf.clip_by_value(x, 0.0, 1.0) * max_value
    return tf.ensure_shape(tf.cast(x, dtype), images.shape)


def seed_dataset(seed, rerandomize_each_iteration=True):
    """Endless int64 `[2]` seeds to zip with a dataset of images, so each element
    gets its own stateless seed that changes every epoch.

    Example:
    >>> ds = tf.data.Dataset.zip(images_ds, seed_dataset(0))
    >>> ds = ds.map(lambda image, seed: rand_augment(image, seed, 14, 11))
    """
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=rerandomize_each_iteration).batch(2)


class RandAugment:
    """RandAugment with fixed N and M that draws a fresh seed per call.

    Usable eagerly and inside `ds.map`; each call takes one seed from a
    `tf.random.Generator`, so two calls differ and the images of a batch get
    different ops. Pass `seed=` to a call for a reproducible result. Inside a
    parallel `ds.map`, the order in which elements take generator seeds is not
    fixed; zip with `seed_dataset` for a reproducible pipeline.

    Args:
        num_ops: N (CN-HIT-MI.T: 14).
        magnitude: M on the 0..30 scale (CN-HIT-MI.T: 11).
        max_value: 1.0 for images in [0, 1], 255.0 for [0, 255].
        fill_value: fill of uncovered pixels, as a fraction of `max_value`.
        seed: seed of the generator; None seeds it non-deterministically.

    Example:
    >>> augment = RandAugment(num_ops=14, magnitude=11, seed=0)
    >>> ds = ds.map(lambda image, label: (augment(image), label))

    Reference: Cubuk et al., "RandAugment", 2019 (arXiv:1909.13719).
    """

    def __init__(self, num_ops=2, magnitude=9, max_value=1.0, fill_value=0.5, seed=None):
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.max_value = max_value
        self.fill_value = fill_value
        self.seed = seed
        if seed is None:
            self.generator = tf.random.Generator.from_non_deterministic_state()
        else:
            self.generator = tf.random.Generator.from_seed(seed)

    def __call__(self, images, seed=None):
        if seed is None:
            seed = self.generator.make_seeds(1)[:, 0]
        return rand_augment(images, seed, num_ops=self.num_ops, magnitude=self.magnitude,
                            max_value=self.max_value, fill_value=self.fill_value)

    def get_config(self):
        return {"num_ops": self.num_ops, "magnitude": self.magnitude, "max_value": self.max_value,
                "fill_value": self.fill_value, "seed": self.seed}
