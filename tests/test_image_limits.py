"""Image limits (issue 14, item 2): the pixel count is read from the header,
with TensorFlow ops, before anything is decoded; over the limits is a counted
skip (check), an error row (predict, serving) or an error (tf.data).

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_image_limits.py -q
"""

import io
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from memotion_tf import input_pipeline
from memotion_tf.datasets.common import check_images
from memotion_tf.export import IMAGE_ERRORS, decode_images, limit_errors
from memotion_tf.preprocessing.image import (
    FORMATS, MAX_IMAGE_PIXELS, check_image_bytes, decode_image, image_header, read_header, size_problem,
)


def png_bomb(width=20000, height=20000):
    """A 1-bit grayscale PNG of width x height black pixels: about 50 KB on
    disk, 1.2 GB once decoded to RGB. Built row by row, never held decoded."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb():
    return png_bomb()


def encoded(fmt, size=(53, 37), frames=1, **options):
    rng = np.random.default_rng(0)
    pictures = [Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(frames)]
    buffer = io.BytesIO()
    if frames > 1:
        options.update(save_all=True, append_images=pictures[1:])
    pictures[0].save(buffer, format=fmt, **options)
    return buffer.getvalue()


SAMPLES = {
    "JPEG": lambda: encoded("JPEG"),
    "JPEG progressive": lambda: encoded("JPEG", progressive=True),
    "JPEG with EXIF": lambda: encoded("JPEG", exif=b"Exif\x00\x00" + b"x" * 3000),
    "PNG": lambda: encoded("PNG"),
    "PNG grayscale": lambda: encoded("PNG", size=(7, 300)),
    "BMP": lambda: encoded("BMP"),
    "GIF": lambda: encoded("GIF"),
    "GIF animated": lambda: encoded("GIF", size=(30, 20), frames=5),
    "WebP lossy": lambda: encoded("WEBP", quality=80),
    "WebP lossless": lambda: encoded("WEBP", lossless=True),
    "WebP extended": lambda: encoded("WEBP", exif=b"Exif\x00\x00hello"),
    "WebP animated": lambda: encoded("WEBP", size=(30, 20), frames=4),
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_header_size_equals_pillows_and_what_tensorflow_decodes(name):
    data = SAMPLES[name]()
    fmt, width, height, frames, pixels = read_header(data)
    picture = Image.open(io.BytesIO(data))
    assert FORMATS[fmt] == name.split()[0]
    assert (width, height) == picture.size and frames == getattr(picture, "n_frames", 1)
    assert pixels == width * height * frames
    if name != "WebP animated":  # TensorFlow decodes animated WebP only as RGBA
        shape = tf.io.decode_image(data, channels=3, expand_animations=False).shape
        assert (shape[1], shape[0]) == (width, height)


def test_a_small_file_holding_20000_x_20000_pixels_is_refused_by_its_header(bomb):
    assert len(bomb) < 200_000
    kind, detail = check_image_bytes(bomb)
    assert kind == "too_large"
    assert detail == "20000 x 20000 pixels = 400,000,000, over the limit of 50,000,000"
    assert check_image_bytes(bomb, max_pixels=None) == (None, "")  # the limit is configurable, None is none
    assert check_image_bytes(bomb, max_pixels=400_000_000) == (None, "")


def test_gif_frames_count_and_a_frame_larger_than_the_canvas_counts_its_own_size():
    gif = encoded("GIF", size=(30, 20), frames=3)
    assert read_header(gif)[1:] == [30, 20, 3, 1800]
    # Canvas 1 x 1, one frame descriptor claiming 60000 x 60000: the decoder would allocate 3.6 GB.
    hostile = (b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0, 0, 0)
               + b"\x2c" + struct.pack("<HHHHB", 0, 0, 60000, 60000, 0) + b"\x02\x02\x44\x01\x00\x3b")
    _, width, height, frames, pixels = read_header(hostile)
    assert (width, height, frames, pixels) == (1, 1, 1, 3_600_000_000)
    assert check_image_bytes(hostile)[0] == "too_large"


@pytest.mark.parametrize("data, kind", [
    (b"", "empty"),
    (b"\xff\xd8\xff\xe0 not really a jpeg", "corrupt"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "corrupt"),  # cut inside IHDR
    (b"GIF89a", "corrupt"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "corrupt"),
    (b"\xff\x0a\xfa\x7f", "format"),  # JPEG XL: frames cannot be counted from a header
    (b"II*\x00" + b"\x00" * 60, "format"),  # TIFF
    (b"hello, world", "format"),
])
def test_headers_that_cannot_be_sized_are_refused(data, kind):
    assert check_image_bytes(data)[0] == kind


def test_file_size_limit_comes_before_the_header():
    data = encoded("PNG")
    assert check_image_bytes(data, max_bytes=len(data)) == (None, "")
    assert check_image_bytes(data, max_bytes=len(data) - 1) == (
        "too_large", f"a file of {len(data):,} bytes, over the limit of {len(data) - 1:,}")


def test_check_images_counts_the_bomb_as_a_skip_naming_file_and_size(tmp_path, bomb):
    (tmp_path / "bomb.png").write_bytes(bomb)
    (tmp_path / "ok.png").write_bytes(encoded("PNG"))
    (tmp_path / "big.jpg").write_bytes(encoded("JPEG", size=(800, 600)))  # random noise: about 400 KB
    frame = pd.DataFrame({"row": [1, 2, 3], "image_path": [str(tmp_path / n) for n in ("bomb.png", "ok.png", "big.jpg")]})
    kept, report = check_images(frame, progress=False, max_bytes=200_000)
    assert kept["row"].tolist() == [2]
    reasons = {row: reason for row, _, reason in report.skipped}
    assert reasons[1] == "too large: 20000 x 20000 pixels = 400,000,000, over the limit of 50,000,000"
    assert reasons[3].startswith("too large: a file of ") and reasons[3].endswith("bytes, over the limit of 200,000")
    assert f"skipped row 1: {tmp_path / 'bomb.png'}: too large: 20000 x 20000" in report.summary()
    kept, report = check_images(frame, progress=False, max_pixels=2000)
    assert kept["row"].tolist() == [2] and "over the limit of 2,000" in dict((r, m) for r, _, m in report.skipped)[3]


def test_tf_data_decode_refuses_the_bomb_before_decoding(tmp_path, bomb):
    ok = encoded("PNG")
    ds = tf.data.Dataset.from_tensor_slices([ok, bomb]).map(lambda data: decode_image(data, 8))
    it = iter(ds)
    assert next(it).shape == (8, 8, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="image of 400000000 pixels, over the limit of 50000000"):
        next(it)
    tiff = tf.data.Dataset.from_tensor_slices([b"II*\x00" + b"\x00" * 60]).map(lambda data: decode_image(data, 8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image size unreadable from its header"):
        next(iter(tiff))
    small = tf.data.Dataset.from_tensor_slices([ok]).map(lambda data: decode_image(data, 8, max_bytes=10))
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"image file of {len(ok)} bytes, over the limit of 10"):
        next(iter(small))


def test_the_pipeline_checks_each_batch_before_decoding_and_says_which_limit(bomb):
    """tf.data's batches check their headers all at once (`checked_pixels` on
    the batch), then decode: the bomb still stops the batch it is in."""
    ok = encoded("PNG")
    decode = tf.function(lambda x: input_pipeline.decode_images(x, 8, from_files=False))
    np.testing.assert_allclose(decode(tf.constant([ok, ok]))[1], decode_image(ok, 8), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="image of 400000000 pixels, over the limit of 50000000"):
        decode(tf.constant([ok, bomb, ok]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image size unreadable from its header"):
        decode(tf.constant([ok, b"II*\x00" + b"\x00" * 60]))


_HEADERS = tf.function(lambda x: image_header(x, walk_gif=False), input_signature=[tf.TensorSpec([None], tf.string)])
_HEADER = tf.function(lambda x: image_header(x, walk_gif=False), input_signature=[tf.TensorSpec([], tf.string)])


def test_a_batch_of_headers_reads_as_each_header_alone():
    data = [make() for make in SAMPLES.values()] + [
        b"", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"\xff\x0a\xfa\x7f",
        b"II*\x00" + b"\x00" * 60, b"hello, world", png_bomb(300, 200)]
    batch = _HEADERS(tf.constant(data)).numpy()
    assert batch.tolist() == [_HEADER(tf.constant(d)).numpy().tolist() for d in data]
    assert [FORMATS[f] for f in batch[:len(SAMPLES), 0]] == [name.split()[0] for name in SAMPLES]
    assert batch[-1].tolist() == [FORMATS.index("PNG"), 300, 200, 1, 60000]
    grid = tf.function(lambda x: image_header(x, walk_gif=False))(tf.constant([data[:2], data[2:4]])).numpy()
    assert grid.shape == (2, 2, 5) and grid.reshape(4, 5).tolist() == batch[:4].tolist()
    with pytest.raises(ValueError, match="one image"):
        image_header(tf.constant(data[:2]), walk_gif=True)


def test_serving_decode_gives_the_bomb_an_error_row_and_decodes_the_others(bomb):
    ok = encoded("PNG")
    images = tf.constant([ok, bomb, b"", b"\xff\xd8\xff\xe0 junk", ok[: len(ok) // 2], encoded("GIF", frames=2)])
    decoded, errors = tf.function(lambda x: decode_images(x, 8))(images)
    errors = [e.decode() for e in errors.numpy()]
    assert errors == ["", f"{IMAGE_ERRORS['too_large']}: 20000 x 20000 pixels = 400000000, over the limit of "
                          "50000000", IMAGE_ERRORS["empty"], IMAGE_ERRORS["corrupt"], IMAGE_ERRORS["corrupt"], ""]
    np.testing.assert_allclose(decoded[0], decode_image(ok, 8), atol=1e-6)
    assert float(tf.reduce_sum(decoded[1])) == 0.0
    errors = limit_errors(tf.constant([ok, encoded("GIF", size=(30, 20), frames=3)]), max_pixels=1000, max_bytes=None)
    assert [e.decode() for e in errors.numpy()] == [
        f"{IMAGE_ERRORS['too_large']}: 53 x 37 pixels = 1961, over the limit of 1000",
        f"{IMAGE_ERRORS['too_large']}: 30 x 20 x 3 frames pixels = 1800, over the limit of 1000"]
    empty = tf.function(lambda x: decode_images(x, 8))(tf.constant([], tf.string))  # a batch of none
    assert empty[0].shape == (0, 8, 8, 3) and empty[1].shape == (0,)
    errors = limit_errors(tf.constant([ok]), max_pixels=None, max_bytes=100)
    assert errors.numpy()[0].decode() == f"{IMAGE_ERRORS['too_large']}: a file of {len(ok)} bytes, over the limit of 100"


def test_default_limit_is_about_50_megapixels():
    assert MAX_IMAGE_PIXELS == 50_000_000
    assert size_problem(encoded("PNG")) is None


MAGIC = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
         b"RIFF\x00\x00\x00\x00WEBPVP8L", b"RIFF\x00\x00\x00\x00WEBPVP8X", b"\xff\x0a"]


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MAGIC), st.binary(max_size=300))
def test_header_reader_never_fails_on_arbitrary_bytes(magic, tail):
    """Whatever follows a known magic number, the header reader returns
    a size or -1, and never raises; a size it returns is one the decoder
    would allocate at least (positive dimensions)."""
    header = read_header(magic + tail)
    fmt, width, height, frames, pixels = header
    assert 0 <= fmt < len(FORMATS)
    assert (width, height, frames, pixels) == (-1, -1, -1, -1) or min(width, height, frames, pixels) > 0


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(MAGIC), st.binary(max_size=120)), min_size=1, max_size=4))
def test_a_batch_of_arbitrary_headers_reads_as_each_alone(items):
    """What the pipeline's batched check reads is what the image check, one
    file at a time, reads; a corrupt JPEG header fails both."""
    data = [magic + tail for magic, tail in items]
    alone = []
    for d in data:
        try:
            alone.append(_HEADER(tf.constant(d)).numpy().tolist())
        except tf.errors.InvalidArgumentError:
            with pytest.raises(tf.errors.InvalidArgumentError):
                _HEADERS(tf.constant(data))
            return
    assert _HEADERS(tf.constant(data)).numpy().tolist() == alone
