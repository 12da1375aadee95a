import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.preprocessing import randaugment as ra
from memotion_tf.preprocessing.randaugment import (
    OP_NAMES,
    RandAugment,
    apply_op,
    magnitude_to_level,
    per_image_seeds,
    rand_augment,
    sample_policy,
    seed_dataset,
)

SIZE = 16
SEED = tf.constant([3, 7])
# The paper's setting (CN-HIT-MI.T section 3.1).
PAPER_N, PAPER_M = 14, 11


def _images(batch=4, seed=0):
    return tf.random.stateless_uniform([batch, SIZE, SIZE, 3], seed=[seed, 1])


def _op(name):
    return tf.constant(OP_NAMES.index(name))


def test_op_list_and_magnitude_scale():
    assert OP_NAMES == (
        "identity", "autocontrast", "equalize", "rotate", "solarize", "color", "posterize",
        "contrast", "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y",
    )
    assert magnitude_to_level(PAPER_M) == pytest.approx(11 / 30)
    assert magnitude_to_level(45) == 1.0
    assert magnitude_to_level(-3) == 0.0


@pytest.mark.parametrize("max_value", [1.0, 255.0])
def test_range_shape_dtype(max_value):
    images = _images() * max_value
    out = rand_augment(images, SEED, PAPER_N, PAPER_M, max_value=max_value)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= max_value
    single = rand_augment(images[0], SEED, PAPER_N, PAPER_M, max_value=max_value)
    assert single.shape == images.shape[1:]
    assert float(tf.reduce_max(single)) <= max_value


def test_other_float_dtype_is_kept_and_bad_inputs_rejected():
    out = rand_augment(tf.cast(_images(2), tf.float16), SEED, 2, 9)
    assert out.dtype == tf.float16
    with pytest.raises(TypeError):
        rand_augment(tf.zeros([SIZE, SIZE, 3], tf.uint8), SEED)
    with pytest.raises(ValueError):
        rand_augment(tf.zeros([SIZE, SIZE, 1]), SEED)


def test_each_image_of_a_batch_gets_its_own_ops():
    seeds = per_image_seeds(SEED, 8)
    policies = [tuple(sample_policy(s, 3)[0].numpy()) for s in seeds]
    assert len(set(policies)) > 1
    # Eight copies of one image come out different from each other.
    image = _images(1)[0]
    out = rand_augment(tf.stack([image] * 8), SEED, 3, PAPER_M).numpy()
    differing = [not np.allclose(out[0], out[i]) for i in range(1, 8)]
    assert any(differing)


def test_same_seed_same_result_other_seed_other_result():
    images = _images()
    first = rand_augment(images, SEED, 3, PAPER_M)
    np.testing.assert_array_equal(first.numpy(), rand_augment(images, SEED, 3, PAPER_M).numpy())
    assert not np.allclose(first.numpy(), rand_augment(images, SEED + 1, 3, PAPER_M).numpy())


def test_generator_class_differs_between_calls_and_is_seedable():
    images = _images()
    augment = RandAugment(num_ops=3, magnitude=PAPER_M, seed=0)
    a, b = augment(images), augment(images)
    assert not np.allclose(a.numpy(), b.numpy())
    again = RandAugment(num_ops=3, magnitude=PAPER_M, seed=0)
    np.testing.assert_array_equal(a.numpy(), again(images).numpy())
    np.testing.assert_array_equal(augment(images, seed=SEED).numpy(),
                                  rand_augment(images, SEED, 3, PAPER_M).numpy())


def test_eager_equals_ds_map_batched_and_per_element():
    images = _images()
    eager = rand_augment(images, SEED, PAPER_N, PAPER_M)
    ds = tf.data.Dataset.from_tensors(images).map(lambda x: rand_augment(x, SEED, PAPER_N, PAPER_M))
    np.testing.assert_allclose(next(iter(ds)).numpy(), eager.numpy(), atol=1e-5)

    # Per-element seeds from seed_dataset: the map output equals eager calls with those seeds.
    ds = tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(images), seed_dataset(5))
    ds = ds.map(lambda x, s: (rand_augment(x, s, 2, PAPER_M), s), num_parallel_calls=2)
    for image, (mapped, seed) in zip(images, ds):
        np.testing.assert_allclose(mapped.numpy(), rand_augment(image, seed, 2, PAPER_M).numpy(), atol=1e-5)


def test_seed_dataset_changes_every_epoch():
    seeds = seed_dataset(0).take(3)
    first, second = [np.stack(list(seeds.as_numpy_iterator())) for _ in range(2)]
    assert not np.array_equal(first, second)


def test_generator_class_inside_ds_map():
    augment = RandAugment(num_ops=2, magnitude=PAPER_M, seed=1)
    ds = tf.data.Dataset.from_tensor_slices(tf.stack([_images(1)[0]] * 4)).map(augment)
    out = np.stack(list(ds.as_numpy_iterator()))
    assert out.shape == (4, SIZE, SIZE, 3) and out.min() >= 0 and out.max() <= 1
    assert not all(np.allclose(out[0], out[i]) for i in range(1, 4))


def test_graph_has_one_case_per_step():
    image = _images(1)[0]
    fn = tf.function(lambda x: rand_augment(x, SEED, 3, PAPER_M))
    graph = fn.get_concrete_function(image).graph
    cases = [op for op in graph.get_operations() if op.type in ("Case", "StatelessCase")]
    assert len(cases) == 3
    assert all(len(op.get_attr("branches")) == len(OP_NAMES) for op in cases)


def test_only_the_chosen_op_runs(monkeypatch):
    calls = []

    def recorder(index):
        def op(image, level, sign, fill_value):
            calls.append(index)
            return image
        return op

    monkeypatch.setattr(ra, "OPS", tuple(recorder(i) for i in range(len(OP_NAMES))))
    rand_augment(_images(1)[0], SEED, 5, PAPER_M)
    expected = sample_policy(SEED, 5)[0].numpy().tolist()
    assert calls == expected


# === Individual ops on a known image ===

def test_level_zero_is_identity_for_magnitude_ops():
    image = _images(1)[0]
    for name in ("rotate", "color", "contrast", "brightness", "sharpness", "shear_x", "shear_y",
                 "translate_x", "translate_y", "solarize", "posterize"):
        out = apply_op(image, _op(name), 0.0, 1.0)
        # solarize and posterize work on 8-bit values: within half a grey level.
        np.testing.assert_allclose(out.numpy(), image.numpy(), atol=0.5 / 255 + 1e-6, err_msg=name)
    np.testing.assert_array_equal(apply_op(image, _op("identity"), 1.0, 1.0).numpy(), image.numpy())


def test_brightness_and_solarize_and_posterize_values():
    image = tf.fill([SIZE, SIZE, 3], 0.8)
    darker = apply_op(image, _op("brightness"), 0.5, -1.0)  # factor 1 - 0.45
    np.testing.assert_allclose(darker.numpy(), 0.8 * 0.55, atol=1e-6)
    ramp = tf.tile(tf.linspace(0.0, 1.0, 256)[:, None, None], [1, 1, 3])
    solarized = apply_op(ramp, _op("solarize"), 0.5, 1.0).numpy()[:, 0, 0]  # threshold 128
    np.testing.assert_allclose(solarized[:128], np.arange(128) / 255, atol=1e-6)
    np.testing.assert_allclose(solarized[128:], (255 - np.arange(128, 256)) / 255, atol=1e-6)
    posterized = apply_op(ramp, _op("posterize"), 1.0, 1.0).numpy() * 255  # 4 bits kept
    np.testing.assert_allclose(posterized % 16, 0, atol=1e-3)


def test_autocontrast_and_equalize_stretch_each_channel():
    image = 0.25 + 0.5 * _images(1)[0]
    stretched = apply_op(image, _op("autocontrast"), 0.0, 1.0).numpy()
    np.testing.assert_allclose(stretched.min(axis=(0, 1)), 0.0, atol=1e-6)
    np.testing.assert_allclose(stretched.max(axis=(0, 1)), 1.0, atol=1e-6)
    equalized = apply_op(image, _op("equalize"), 0.0, 1.0).numpy()
    np.testing.assert_allclose(equalized.min(axis=(0, 1)), 0.0, atol=1e-6)
    np.testing.assert_allclose(equalized.max(axis=(0, 1)), 1.0, atol=1e-6)
    # A constant image is left as it is by both.
    grey = tf.fill([SIZE, SIZE, 3], 0.4)
    for name in ("autocontrast", "equalize"):
        np.testing.assert_allclose(apply_op(grey, _op(name), 0.0, 1.0).numpy(), 0.4, atol=0.5 / 255)


def test_translate_shifts_by_the_table_amount():
    # level 1 shifts by 0.45 x 20 = 9 pixels; the sign picks the direction.
    image = np.zeros([20, 20, 3], "float32")
    image[:, 12] = 1.0
    out = apply_op(tf.constant(image), _op("translate_x"), 1.0, 1.0, fill_value=0.0).numpy()
    assert np.argmax(out[10, :, 0]) == 3
    image = np.zeros([20, 20, 3], "float32")
    image[5, :] = 1.0
    out = apply_op(tf.constant(image), _op("translate_y"), 1.0, -1.0, fill_value=0.0).numpy()
    assert np.argmax(out[:, 10, 0]) == 14


def test_rotate_keeps_centre_and_fills_corners():
    image = tf.fill([21, 21, 3], 1.0)
    out = apply_op(image, _op("rotate"), 1.0, 1.0, fill_value=0.5).numpy()  # 30 degrees
    assert out[10, 10, 0] == pytest.approx(1.0)
    assert out[0, 0, 0] == pytest.approx(0.5)


# === Batches: every op on its share of the batch, the same as image by image ===

def _cases(count=40, seed=0):
    """Random (image, level, sign, fill) of odd and even sizes, some with a flat channel."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        height, width = (int(v) for v in rng.integers(3, 40, 2))
        image = rng.random((height, width, 3), dtype=np.float32)
        if i % 4 == 0:
            image[..., 1] = 0.3
        level = float(rng.choice([rng.random(), 0.0, 1.0, PAPER_M / 30]))
        sign = tf.constant(rng.choice([-1.0, 1.0]), tf.float32)
        yield tf.constant(image), level, sign, float(rng.choice([0.0, 0.5, 1.0, 0.3]))


def test_each_op_on_a_batch_equals_it_image_by_image():
    images = tf.random.stateless_uniform([5, 13, 17, 3], seed=[4, 2])
    signs = tf.constant([1.0, -1.0, -1.0, 1.0, -1.0])
    for name, op in zip(OP_NAMES, ra.OPS):
        batch = op(images, PAPER_M / 30, signs, 0.5)
        assert batch.shape == images.shape, name
        one_by_one = tf.stack([op(images[i], PAPER_M / 30, signs[i], 0.5) for i in range(5)])
        np.testing.assert_array_equal(batch, one_by_one, err_msg=name)
        assert op(images[:0], PAPER_M / 30, signs[:0], 0.5).shape == (0, 13, 17, 3), name


def test_a_batch_equals_its_images_augmented_with_their_own_seeds():
    images = _images(6)
    seeds = per_image_seeds(SEED, 6)
    batch = rand_augment(images, SEED, PAPER_N, PAPER_M)
    for i in range(6):
        np.testing.assert_allclose(batch[i], rand_augment(images[i], seeds[i], PAPER_N, PAPER_M), atol=1e-6)


def test_pixel_ops_equal_their_8bit_and_per_channel_definitions():
    for image, level, sign, fill in _cases(seed=1):
        x = image.numpy()
        values = np.round(np.clip(x, 0, 1) * np.float32(255)).astype(np.int32)
        threshold = np.int32(np.float32(256) * (np.float32(1) - np.float32(level)))
        solarized = np.where(values >= threshold, 255 - values, values).astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(ra.solarize(image, level, sign, fill), solarized)
        bits = int(np.floor(np.float32(level) * 4))
        posterized = ((values >> bits) << bits).astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(ra.posterize(image, level, sign, fill), posterized)
        low, high = x.min(axis=(0, 1)), x.max(axis=(0, 1))
        flat = high <= low
        scale = np.where(flat, np.float32(1), np.float32(1) / np.where(flat, np.float32(1), high - low))
        stretched = np.clip((x - np.where(flat, np.float32(0), low)) * scale, 0, 1)
        np.testing.assert_array_equal(ra.autocontrast(image, level, sign, fill), stretched)
        grey = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image))
        np.testing.assert_array_equal(ra.color(image, level, sign, fill),
                                      ra._blend(grey, image, 1.0 + sign * level * ra.MAX_ENHANCE))


def test_batches_in_a_dataset_use_no_case_and_no_loop_over_images():
    """Inside tf.data every Case or While step is a costly function call."""
    fn = tf.function(lambda x: rand_augment(x, SEED, PAPER_N, PAPER_M))
    graph = fn.get_concrete_function(tf.TensorSpec([None, SIZE, SIZE, 3])).graph
    types = {op.type for op in graph.get_operations()}
    assert not types & {"Case", "StatelessCase", "If", "StatelessIf"}
    # One While only: drawing each image's ops (N numbers), not augmenting it.
    assert sum(op.type in ("While", "StatelessWhile") for op in graph.get_operations()) == 1


def test_benchmark_runs_on_tiny_input():
    from memotion_tf.benchmarks.randaugment import randaugment_throughput

    ours, theirs = randaugment_throughput(images=4, size=SIZE, num_ops=2, magnitude=PAPER_M, batch_size=2)
    assert ours.rate > 0 and theirs.rate > 0 and ours.setup_s > 0 and theirs.setup_s > 0
