"""Image decoding shared by training, evaluation and the exported SavedModel.

Images are decoded by content (`tf.io.decode_image` reads the magic bytes, so a
JPEG named `.png` decodes), forced to 3 channels (grayscale is duplicated, alpha
dropped), resized to a square with bilinear interpolation and scaled by 1/255,
as UoR section 3.1 describes. UoR read images with cv2; TF's bilinear resize is
the same interpolation without cv2's pixel-centre rounding, a difference of at
most a few grey levels.

Limits. A small file can hold a huge picture (a 1 MB PNG of 20000 x 20000
pixels decodes to 1.2 GB), so the pixel count is read from the file's header,
with TensorFlow ops, before anything is decoded (`image_header`), and an image
over `MAX_IMAGE_PIXELS` (50 megapixels) or a file over `MAX_IMAGE_BYTES`
(50 MiB) is refused. Animations count every frame (a GIF decoder reads them
all). The header is read for JPEG (the SOF segment), PNG (IHDR), GIF (the
canvas and each frame's descriptor), BMP and WebP (VP8, VP8L and VP8X, with
its animation frames); a file whose size cannot be read that way, including
JPEG XL, whose animation frames cannot be counted from a header, is refused
too rather than decoded blind. The same function serves the image check before
training (`datasets.common.check_images`), `predict`, the tf.data pipeline
and the SavedModel, so an image the check accepts is one training decodes.
"""

import tensorflow as tf

MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_BYTES = 50 * 2**20

# Formats the header reader knows, by index (`image_header`'s format output).
FORMATS = ("unknown", "JPEG", "PNG", "GIF", "BMP", "WebP", "JPEG XL")
READABLE_FORMATS = "JPEG, PNG, GIF, BMP or WebP"
# A header walk stops after this many steps (segments, chunks, GIF blocks):
# a hostile file made of tiny blocks cannot keep it busy, and a real one never
# needs as many (a 50 MiB GIF of full 255-byte blocks needs about 200,000).
MAX_HEADER_STEPS = 400_000

# JPEG start-of-frame markers: SOF0-3, 5-7, 9-11, 13-15 (C4 is DHT, C8 JPG, CC DAC).
_SOF_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
_UNKNOWN = (-1, -1, -1, -1)


class _Bytes:
    """Random access to the bytes of a scalar string as int64 values; reads
    past the end give 0, so a truncated header never fails an op."""

    def __init__(self, data):
        raw = tf.io.decode_raw(data, tf.uint8)
        self.n = tf.size(raw, out_type=tf.int64)
        self._raw = tf.concat([raw, tf.zeros([1], tf.uint8)], 0)  # never empty, for gather

    def fast(self, pos):
        """The byte at `pos` (0 at and past the end; `pos` must be >= 0), in two ops."""
        return tf.cast(tf.gather(self._raw, tf.minimum(pos, self.n)), tf.int64)

    def __call__(self, pos):
        pos = tf.cast(pos, tf.int64)
        value = tf.cast(tf.gather(self._raw, tf.clip_by_value(pos, 0, self.n)), tf.int64)
        return tf.where((pos >= 0) & (pos < self.n), value, tf.zeros_like(value))

    def le(self, pos, size):
        return sum(self(pos + k) * 256**k for k in range(size))

    def be(self, pos, size):
        return sum(self(pos + k) * 256 ** (size - 1 - k) for k in range(size))

    def equals(self, pos, text):
        match = tf.constant(True)
        for k, byte in enumerate(text):
            match &= tf.equal(self(pos + k), byte)
        return match


def _area(*sizes):
    """The product of sizes in float64: int64 would wrap around (two 32-bit
    PNG dimensions), and a wrapped count could pass a limit."""
    product = tf.constant(1.0, tf.float64)
    for size in sizes:
        product *= tf.cast(size, tf.float64)
    return product


def _result(width, height, frames, pixels):
    # Saturate the pixel count at 2**62: far over any limit, and exact in int64.
    pixels = tf.cast(tf.minimum(tf.cast(pixels, tf.float64), 2.0**62), tf.int64)
    return tf.stack([tf.cast(v, tf.int64) for v in (width, height, frames)] + [pixels])


def _unknown():
    return tf.constant(_UNKNOWN, tf.int64)


def _still(width, height):
    ok = (width > 0) & (height > 0)
    return tf.where(ok, _result(width, height, 1, _area(width, height)), _unknown())


def _jpeg(b):
    """Walk the marker segments from SOI to the first SOF, which holds the size."""
    sof = tf.constant(_SOF_MARKERS, tf.int64)

    def body(pos, width, height, done):
        is_ff = tf.equal(b(pos), 0xFF)
        marker = b(pos + 1)
        fill = is_ff & tf.equal(marker, 0xFF)  # fill bytes before a marker
        standalone = is_ff & (tf.equal(marker, 0x01) | ((marker >= 0xD0) & (marker <= 0xD8)))
        found = is_ff & tf.reduce_any(tf.equal(sof, marker))
        length = b.be(pos + 2, 2)
        bad = ~is_ff | tf.equal(marker, 0xD9) | tf.equal(marker, 0xDA) | (~fill & ~standalone & (length < 2))
        height = tf.where(found, b.be(pos + 5, 2), height)
        width = tf.where(found, b.be(pos + 7, 2), width)
        step = tf.where(fill, tf.constant(1, tf.int64), tf.where(standalone, tf.constant(2, tf.int64), 2 + length))
        return pos + step, width, height, done | found | bad

    minus = tf.constant(-1, tf.int64)
    _, width, height, _ = tf.while_loop(
        lambda pos, w, h, done: ~done & (pos + 4 <= b.n), body,
        (tf.constant(2, tf.int64), minus, minus, tf.constant(False)), maximum_iterations=MAX_HEADER_STEPS)
    return _still(width, height)


def _png(b):
    ok = b.equals(12, b"IHDR")
    return tf.where(ok, _still(b.be(16, 4), b.be(20, 4)), _unknown())


def _gif(b):
    """Canvas size, then every block: a frame (image descriptor) counts the
    larger of its own area and the canvas, since the decoder allocates both.
    Data sub-blocks are skipped by a loop of as few ops as possible: a GIF
    has one per 255 bytes."""
    width, height = b.le(6, 2), b.le(8, 2)
    canvas = width * height

    def table(flags):  # size of a colour table announced by a flags byte
        return tf.where(flags >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), flags % 8), 0)

    def skip_sub_blocks(pos, steps):
        # Each sub-block is a length byte and that many bytes; a 0 ends the chain.
        pos, steps = tf.while_loop(
            lambda pos, steps: (b.fast(pos) > 0) & (steps < MAX_HEADER_STEPS),
            lambda pos, steps: (pos + b.fast(pos) + 1, steps + 1),
            (pos, steps), parallel_iterations=1)
        return pos + 1, steps

    def body(pos, frames, pixels, steps, done):
        kind = b(pos)
        image = tf.equal(kind, 0x2C)
        extension = tf.equal(kind, 0x21)
        start = tf.where(image, pos + 10 + table(b(pos + 9)) + 1, pos + 2)
        after, steps = tf.cond(image | extension, lambda: skip_sub_blocks(start, steps + 1),
                               lambda: (pos, steps + 1))
        frames = frames + tf.cast(image, tf.int64)
        pixels = pixels + tf.where(image, tf.maximum(b.le(pos + 5, 2) * b.le(pos + 7, 2), canvas), 0)
        return after, frames, pixels, steps, done | ~(image | extension)  # the trailer 0x3B, or anything else

    zero = tf.constant(0, tf.int64)
    pos, frames, pixels, steps, done = tf.while_loop(
        lambda pos, frames, pixels, steps, done: ~done & (pos < b.n) & (steps < MAX_HEADER_STEPS), body,
        (13 + table(b(10)), zero, zero, zero, tf.constant(False)))
    # Cut short by the step limit (neither at the trailer nor at the end): unknown.
    complete = (done | (pos >= b.n)) & (steps < MAX_HEADER_STEPS)
    ok = complete & (frames > 0) & (canvas > 0)
    return tf.where(ok, _result(width, height, frames, pixels), _unknown())


def _bmp(b):
    header = b.le(14, 4)

    def signed(value):
        return tf.where(value >= 2**31, value - 2**32, value)

    core = tf.equal(header, 12)  # BITMAPCOREHEADER: 16-bit sizes
    width = tf.where(core, b.le(18, 2), tf.abs(signed(b.le(18, 4))))
    height = tf.where(core, b.le(20, 2), tf.abs(signed(b.le(22, 4))))
    return _still(width, height)


def _webp(b):
    lossy = b.equals(12, b"VP8 ") & b.equals(23, b"\x9d\x01\x2a")
    lossless = b.equals(12, b"VP8L") & tf.equal(b(20), 0x2F)
    extended = b.equals(12, b"VP8X")
    lossy_size = (b.le(26, 2) % 16384, b.le(28, 2) % 16384)
    bits = b.le(21, 4)
    lossless_size = (bits % 16384 + 1, tf.bitwise.right_shift(bits, 14) % 16384 + 1)
    canvas = (b.le(24, 3) + 1, b.le(27, 3) + 1)
    animated = extended & (tf.bitwise.bitwise_and(b(20), 2) > 0)

    def count_frames():
        # RIFF chunks from offset 12: fourcc, little-endian size, data padded to even.
        def body(pos, frames):
            size = b.le(pos + 4, 4)
            return pos + 8 + size + size % 2, frames + tf.cast(b.equals(pos, b"ANMF"), tf.int64)

        pos, frames = tf.while_loop(lambda pos, frames: pos + 8 <= b.n, body,
                                    (tf.constant(12, tf.int64), tf.constant(0, tf.int64)),
                                    maximum_iterations=MAX_HEADER_STEPS)
        return tf.where(pos + 8 > b.n, frames, -1)

    frames = tf.cond(animated, count_frames, lambda: tf.constant(1, tf.int64))
    width = tf.where(lossy, lossy_size[0], tf.where(lossless, lossless_size[0], canvas[0]))
    height = tf.where(lossy, lossy_size[1], tf.where(lossless, lossless_size[1], canvas[1]))
    ok = (lossy | lossless | extended) & (width > 0) & (height > 0) & (frames > 0)
    return tf.where(ok, _result(width, height, frames, _area(width, height, tf.maximum(frames, 1))), _unknown())


def image_format(data):
    """Index into `FORMATS` of a scalar string of image bytes, by its magic bytes."""
    head = tf.strings.substr(data, 0, 12) + b"\x00" * 12

    def starts(offset, magic):
        return tf.equal(tf.strings.substr(head, offset, len(magic)), magic)

    checks = (
        (1, starts(0, b"\xff\xd8\xff")),
        (2, starts(0, b"\x89PNG\r\n\x1a\n")),
        (3, starts(0, b"GIF87a") | starts(0, b"GIF89a")),
        (4, starts(0, b"BM")),
        (5, starts(0, b"RIFF") & starts(8, b"WEBP")),
        (6, starts(0, b"\xff\x0a") | starts(0, b"\x00\x00\x00\x0cJXL ")),
    )
    index = tf.constant(0, tf.int32)
    for value, match in reversed(checks):
        index = tf.where(match, value, index)
    return index


@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def image_header(data):
    """int64 [5]: (format, width, height, frames, pixels) of encoded image
    bytes, read from the header without decoding; width..pixels are -1 where
    they cannot be read (unknown format, truncated header, JPEG XL).

    `pixels` is what decoding costs: width x height for a still image; for an
    animation, every frame (a GIF frame counts the larger of its own area and
    the canvas). `format` indexes `FORMATS`.

    Example:
    >>> fmt, width, height, frames, pixels = image_header(tf.io.read_file("meme.png")).numpy()
    """
    fmt = image_format(data)

    def read():
        b = _Bytes(data)
        return tf.switch_case(fmt - 1, [lambda: _jpeg(b), lambda: _png(b), lambda: _gif(b),
                                        lambda: _bmp(b), lambda: _webp(b), _unknown])

    values = tf.cond(fmt > 0, read, _unknown)
    return tf.concat([tf.cast(fmt, tf.int64)[None], values], 0)


# Per-row errors of the serving signature and of `predict`, by kind.
IMAGE_ERRORS = {
    "empty": "image: empty",
    "format": f"image: unsupported format (accepted: {READABLE_FORMATS})",
    "corrupt": "image: corrupt or truncated",
    "too_large": "image: too large",
}


def describe_header(header):
    """'20000 x 20000 pixels' (or '480 x 270 x 40 frames') from `image_header`'s values."""
    _, width, height, frames, _ = (int(v) for v in header)
    return f"{width} x {height}" + (f" x {frames} frames" if frames > 1 else "") + " pixels"


def check_image_bytes(data, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES):
    """(kind, detail) saying why the image bytes `data` must not be decoded,
    or (None, "") when they may be. `kind` is a key of `IMAGE_ERRORS`;
    `detail` is one line, e.g. "20000 x 20000 pixels = 400,000,000, over the
    limit of 50,000,000". None turns a limit off."""
    if max_bytes is not None and len(data) > max_bytes:
        return "too_large", f"a file of {len(data):,} bytes, over the limit of {max_bytes:,}"
    if not len(data):
        return "empty", "empty file"
    header = image_header(tf.constant(data)).numpy()
    fmt, pixels = int(header[0]), int(header[4])
    if fmt == 0:
        return "format", f"not an image in an accepted format ({READABLE_FORMATS})"
    if FORMATS[fmt] == "JPEG XL":
        return "format", "JPEG XL is not accepted: its frames cannot be counted before decoding"
    if pixels < 0:
        return "corrupt", f"corrupt or truncated {FORMATS[fmt]} header: the size cannot be read"
    if max_pixels is not None and pixels > max_pixels:
        return "too_large", f"{describe_header(header)} = {pixels:,}, over the limit of {max_pixels:,}"
    return None, ""


def size_problem(data, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES):
    """`check_image_bytes` as one message, or None: "too large: ...",
    "empty file", or what is wrong with the header."""
    kind, detail = check_image_bytes(data, max_pixels, max_bytes)
    if kind is None:
        return None
    return f"too large: {detail}" if kind == "too_large" else detail


def checked_pixels(image_bytes, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES):
    """`image_bytes` with a graph assertion that they may be decoded: a known
    size within `max_pixels` and at most `max_bytes` bytes. Inside tf.data an
    image over the limit fails with InvalidArgumentError instead of taking
    gigabytes; the image check before training has already skipped such files."""
    checks = []
    if max_bytes is not None:
        checks.append(tf.debugging.assert_less_equal(
            tf.cast(tf.strings.length(image_bytes), tf.int64), tf.constant(max_bytes, tf.int64),
            message=f"image file over the limit of {max_bytes} bytes"))
    if max_pixels is not None:
        pixels = image_header(image_bytes)[4]
        checks.append(tf.debugging.assert_greater_equal(
            pixels, tf.constant(0, tf.int64),
            message=f"image size unreadable from its header (not {READABLE_FORMATS})"))
        checks.append(tf.debugging.assert_less_equal(
            pixels, tf.constant(max_pixels, tf.int64), message=f"image over the limit of {max_pixels} pixels"))
    with tf.control_dependencies(checks):
        return tf.identity(image_bytes)


def decode_image(image_bytes, image_size, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES):
    """Decode, resize to `image_size` squared and scale to [0, 1]; the size is
    checked against the limits from the header first (`checked_pixels`);
    None turns a limit off."""
    image_bytes = checked_pixels(image_bytes, max_pixels, max_bytes)
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, [image_size, image_size], method="bilinear")
    return image / 255.0


def load_image(path, image_size, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES):
    return decode_image(tf.io.read_file(path), image_size, max_pixels, max_bytes)
