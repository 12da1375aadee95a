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
all). The header is read for JPEG (`tf.image.extract_jpeg_shape`), PNG
(IHDR), GIF (the canvas, and each frame's descriptor), BMP and WebP (VP8, VP8L
and VP8X, with its animation frames); a file whose size cannot be read that
way, including JPEG XL, whose animation frames cannot be counted from a
header, is refused too rather than decoded blind. The same function serves the
image check before training (`datasets.common.check_images`), `predict`, the
SavedModel and the tf.data pipeline; the pipeline skips the GIF block walk (a
loop, costly inside tf.data) and counts frames by a scan that is never lower,
so an image the check accepts is one training decodes.

Cost. The header check is some 200 small ops; one image at a time inside
tf.data they cost about half the decode of a small meme, so the training
pipeline (`input_pipeline.decode_images`) reads a whole batch's headers at once
(`image_header` and `checked_pixels` take a batch) and then decodes. Measured on
this project's 2 idle cores (1,600 synthetic memes of 140-240 px, resized to
128 px, batches of 32, 2026-11-29): decoding alone 4,157 images/s; checked one
image at a time 2,737; checked a batch at a time 3,148. `max_pixels=None,
max_bytes=None` turns the check off. A 6.4 MB GIF of 40 frames takes about
0.25 s to walk (the image check, predict and the SavedModel walk it).

With `crop=True` the picture is not squashed: its centred square (side = the
shorter side) is resized to `image_size`, which keeps the same pixels as
resizing the shorter side to `image_size` and cropping the centre (1213Li,
section 3.2.1: "cropped into 3*224*224").
"""

import threading

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

# A JPEG header of 1 x 1 pixels (SOI, SOF0, SOS, EOI): what the JPEG size op
# reads for a row that is not a JPEG, so the graph needs no branch.
_JPEG_STAND_IN = bytes.fromhex("ffd8" "ffc0000b080001000101011100" "ffda000801010000003f00" "ffd9")
_HEAD = 32  # bytes of the header read for every format but JPEG, GIF frames and WebP animations
_UNKNOWN = (-1, -1, -1, -1)


def _field_weights():
    """[fields, _HEAD] weights: the header's fixed-place integers are one
    matrix-vector product of its bytes (few ops matter inside tf.data)."""
    fields = {  # name: (offset, bytes, big-endian)
        "png_width": (16, 4, True), "png_height": (20, 4, True),
        "gif_width": (6, 2, False), "gif_height": (8, 2, False),
        "bmp_header": (14, 4, False), "bmp_width": (18, 4, False), "bmp_height": (22, 4, False),
        "bmp_core_width": (18, 2, False), "bmp_core_height": (20, 2, False),
        "vp8_width": (26, 2, False), "vp8_height": (28, 2, False), "vp8l_bits": (21, 4, False),
        "vp8x_width": (24, 3, False), "vp8x_height": (27, 3, False),
    }
    weights = []
    for offset, size, big_endian in fields.values():
        row = [0.0] * _HEAD
        for k in range(size):
            row[offset + k] = float(256 ** (size - 1 - k if big_endian else k))
        weights.append(row)
    return list(fields), weights


_FIELDS, _WEIGHTS = _field_weights()


class _Bytes:
    """Random access to the bytes of a scalar string as int64 values, for
    the GIF walk; reads past the end give 0, so a truncated file never fails
    an op."""

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


def _table(flags):
    """Size of a GIF colour table announced by a flags byte."""
    return tf.where(flags >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), flags % 8),
                    tf.zeros_like(flags))


def _gif_frames(data, canvas):
    """(frames, pixels) of a GIF, walking its blocks; (0, 0) for an empty
    string (any other format: the walk does not start), (-1, -1) when cut
    short by the step limit. A frame (image descriptor) counts the larger of
    its own area and the canvas, since the decoder allocates both. Data
    sub-blocks, one per 255 bytes, are skipped by a loop of as few ops as
    possible; no `tf.cond`, which costs more than the walk inside tf.data."""
    b = _Bytes(data)

    def skip_sub_blocks(pos, steps, active):
        # Each sub-block is a length byte and that many bytes; a 0 ends the chain.
        pos, steps = tf.while_loop(
            lambda pos, steps: active & (b.fast(pos) > 0) & (steps < MAX_HEADER_STEPS),
            lambda pos, steps: (pos + b.fast(pos) + 1, steps + 1),
            (pos, steps), parallel_iterations=1)
        return pos + 1, steps

    def body(pos, frames, pixels, steps, done):
        kind = b(pos)
        image = tf.equal(kind, 0x2C)
        extension = tf.equal(kind, 0x21)
        start = tf.where(image, pos + 10 + _table(b(pos + 9)) + 1, pos + 2)
        after, steps = skip_sub_blocks(start, steps + 1, image | extension)
        frames = frames + tf.cast(image, tf.int64)
        pixels = pixels + tf.where(image, tf.maximum(b.le(pos + 5, 2) * b.le(pos + 7, 2), canvas), 0)
        return after, frames, pixels, steps, done | ~(image | extension)  # the trailer 0x3B, or anything else

    zero = tf.constant(0, tf.int64)
    pos, frames, pixels, steps, done = tf.while_loop(
        lambda pos, frames, pixels, steps, done: ~done & (pos < b.n) & (steps < MAX_HEADER_STEPS), body,
        (13 + _table(b(10)), zero, zero, zero, tf.constant(False)))
    minus = tf.constant(-1, tf.int64)
    cut_short = steps >= MAX_HEADER_STEPS
    return tf.where(cut_short, minus, frames), tf.where(cut_short, minus, pixels)


def _count(data, needle):
    """How often `needle` occurs in each string of `data`, of any shape (a C++ scan, no loop)."""
    parts = tf.strings.split(tf.reshape(data, [-1]), sep=needle).row_lengths()
    return tf.reshape(tf.maximum(tf.cast(parts, tf.int64) - 1, 0), tf.shape(data))


def _jpeg_shape(data):
    """`tf.image.extract_jpeg_shape` of each string of `data` (the op takes one)."""
    if data.shape.rank == 0:
        return tf.image.extract_jpeg_shape(data)
    shapes = tf.map_fn(tf.image.extract_jpeg_shape, tf.reshape(data, [-1]), fn_output_signature=tf.int32)
    return tf.reshape(shapes, tf.concat([tf.shape(data), [3]], 0))


# Byte patterns of the header, by name: [(offset, bytes)]. The first of
# `_FORMAT_PATTERNS` that matches gives the format; the others are checked
# by `image_header`. All are matched at once (few ops matter inside tf.data).
_PATTERNS = {
    "JPEG": [(0, b"\xff\xd8\xff")],
    "PNG": [(0, b"\x89PNG\r\n\x1a\n")],
    "GIF87a": [(0, b"GIF87a")],
    "GIF89a": [(0, b"GIF89a")],
    "BMP": [(0, b"BM")],
    "WebP": [(0, b"RIFF"), (8, b"WEBP")],
    "JPEG XL": [(0, b"\xff\x0a")],
    "JPEG XL container": [(0, b"\x00\x00\x00\x0cJXL ")],
    "IHDR": [(12, b"IHDR")],
    "VP8": [(12, b"VP8 "), (23, b"\x9d\x01\x2a")],
    "VP8L": [(12, b"VP8L"), (20, b"\x2f")],
    "VP8X": [(12, b"VP8X")],
}
_FORMAT_PATTERNS = ("JPEG", "PNG", "GIF87a", "GIF89a", "BMP", "WebP", "JPEG XL", "JPEG XL container")
_PATTERN_FORMATS = [1, 2, 3, 3, 4, 5, 6, 6]  # index into FORMATS of each format pattern


def _pattern_table():
    """(expected bytes, mask), each [patterns, _HEAD] float64."""
    expected, mask = [], []
    for parts in _PATTERNS.values():
        row, used = [0.0] * _HEAD, [0.0] * _HEAD
        for offset, text in parts:
            for k, byte in enumerate(text):
                row[offset + k], used[offset + k] = float(byte), 1.0
        expected.append(row)
        mask.append(used)
    return expected, mask


_EXPECTED, _MASK = _pattern_table()


def _head(data):
    """(the first `_HEAD` bytes of a string tensor as float64 [..., _HEAD],
    zero-padded; which of `_PATTERNS` they match, bool [..., patterns])."""
    padded = tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, _HEAD), b"\x00" * _HEAD]), 0, _HEAD)
    head = tf.cast(tf.io.decode_raw(padded, tf.uint8), tf.float64)
    # decode_raw cannot tell the width of an empty batch: say it.
    head = tf.reshape(head, tf.concat([tf.shape(data), [_HEAD]], 0))
    differ = tf.abs(head[..., None, :] - tf.constant(_EXPECTED, tf.float64)) * tf.constant(_MASK, tf.float64)
    return head, tf.equal(tf.reduce_sum(differ, axis=-1), 0.0)


def _format_of(matches):
    """The format of the first matching format pattern; 0 (unknown) where none matches."""
    matches = matches[..., :len(_FORMAT_PATTERNS)]
    scores = tf.cast(matches, tf.int32) * tf.range(len(_FORMAT_PATTERNS), 0, -1)
    first = tf.argmax(scores, axis=-1, output_type=tf.int32)
    return tf.where(tf.reduce_any(matches, axis=-1), tf.gather(tf.constant(_PATTERN_FORMATS), first), 0)


def image_format(data):
    """Index into `FORMATS` of image bytes (a string tensor of any shape), by their magic bytes."""
    return _format_of(_head(data)[1])


def image_header(data, walk_gif=True):
    """int64 [..., 5]: (format, width, height, frames, pixels) of encoded image
    bytes (a string tensor: one image, or a batch without `walk_gif`), read
    from the header without decoding; width..pixels are -1 where they cannot
    be read (unknown format, truncated header, JPEG XL). A JPEG's size comes
    from `tf.image.extract_jpeg_shape`, which raises InvalidArgumentError on a
    corrupt JPEG header.

    `pixels` is what decoding costs: width x height for a still image; for an
    animation, every frame. Frames are counted without a loop as the image
    separators that follow a block terminator (GIF) or the ANMF chunks (WebP),
    which can only over-count. With `walk_gif`, a GIF's blocks are also walked
    (a loop, which costs a few milliseconds inside tf.data even for other
    formats; one image only): each frame then counts the larger of its own
    area and the canvas, since the decoder allocates both, and `pixels` is
    the larger of the two counts, so a file accepted with `walk_gif` is
    accepted without. `format` indexes `FORMATS`. Graph code calls this
    function; Python code calls `read_header`. A batch costs the ops of one
    image (but for the JPEG size, one op per image): inside tf.data, reading a
    batch's headers at once costs a fraction of reading them one by one.

    Example:
    >>> fmt, width, height, frames, pixels = read_header(open("meme.png", "rb").read())
    """
    data = tf.convert_to_tensor(data, tf.string)
    rank = data.shape.rank
    if rank is None:
        raise ValueError("image_header: the rank of `data` must be known")
    if walk_gif and rank:
        raise ValueError("image_header: the GIF walk (walk_gif=True) reads one image; pass a scalar string")
    head, matches = _head(data)
    matched = dict(zip(_PATTERNS, tf.unstack(matches, axis=-1)))
    fmt = _format_of(matches)
    field = dict(zip(_FIELDS, tf.unstack(tf.linalg.matvec(tf.constant(_WEIGHTS, tf.float64), head), axis=-1)))

    jpeg = _jpeg_shape(tf.where(tf.equal(fmt, 1), data, _JPEG_STAND_IN))
    jpeg = tf.cast(jpeg, tf.float64)
    one = tf.ones_like(jpeg[..., 0])
    minus = -one

    gif_data = tf.where(tf.equal(fmt, 3), data, "")
    canvas = tf.cast(field["gif_width"] * field["gif_height"], tf.int64)
    # A frame right after the colour table (at most 13 + 768 bytes in) has no terminator before it.
    table = _table(tf.cast(head[..., 10], tf.int64))
    padded = tf.strings.join([gif_data, b"\x00" * 800])
    first = tf.equal(tf.strings.substr(padded, 13 + table, tf.ones_like(table)), ",")
    blocks = tf.strings.substr(padded, 13 + table, -tf.ones_like(table))  # after the table
    gif_frames = tf.cast(_count(blocks, "\x00,") + tf.cast(first, tf.int64), tf.float64)
    gif_pixels = tf.cast(canvas, tf.float64) * gif_frames
    if walk_gif:
        walked_frames, walked_pixels = _gif_frames(gif_data, canvas)
        gif_ok = walked_frames >= 0
        gif_frames = tf.cast(walked_frames, tf.float64)
        gif_pixels = tf.maximum(gif_pixels, tf.cast(walked_pixels, tf.float64))
    else:
        gif_ok = tf.ones_like(fmt, tf.bool)

    core = tf.equal(field["bmp_header"], 12)  # BITMAPCOREHEADER: 16-bit sizes

    def unsigned_to_size(value):  # BMP sizes are signed (a negative height is top-down)
        return tf.abs(tf.where(value >= 2.0**31, value - 2.0**32, value))

    bmp_width = tf.where(core, field["bmp_core_width"], unsigned_to_size(field["bmp_width"]))
    bmp_height = tf.where(core, field["bmp_core_height"], unsigned_to_size(field["bmp_height"]))

    lossy, lossless, extended = matched["VP8"], matched["VP8L"], matched["VP8X"]
    bits = field["vp8l_bits"]
    webp_width = tf.where(lossy, tf.math.floormod(field["vp8_width"], 16384),
                          tf.where(lossless, tf.math.floormod(bits, 16384) + 1, field["vp8x_width"] + 1))
    webp_height = tf.where(lossy, tf.math.floormod(field["vp8_height"], 16384),
                           tf.where(lossless, tf.math.floormod(tf.floor(bits / 16384), 16384) + 1,
                                    field["vp8x_height"] + 1))
    animated = tf.equal(fmt, 5) & extended & (tf.math.floormod(tf.floor(head[..., 20] / 2), 2) > 0)
    webp_frames = tf.where(animated, tf.cast(_count(tf.where(animated, data, ""), "ANMF"), tf.float64), one)

    # One value per entry of FORMATS: unknown, JPEG, PNG, GIF, BMP, WebP, JPEG XL.
    def pick(values):
        return tf.gather(tf.stack(values, axis=-1), fmt, batch_dims=rank)

    width = pick([minus, jpeg[..., 1], field["png_width"], field["gif_width"], bmp_width, webp_width, minus])
    height = pick([minus, jpeg[..., 0], field["png_height"], field["gif_height"], bmp_height, webp_height, minus])
    frames = pick([minus, one, one, gif_frames, one, webp_frames, minus])
    extra = pick([minus, one, one, gif_pixels, one, one, minus])  # GIF: its own count
    no = tf.zeros_like(fmt, tf.bool)
    valid = pick([no, ~no, matched["IHDR"], gif_ok, ~no, lossy | lossless | extended, no])
    pixels = tf.where(tf.equal(fmt, 3), extra, width * height * frames)
    valid &= (width > 0) & (height > 0) & (frames > 0)
    # Saturate at 2**62: far over any limit, and exact in int64.
    values = tf.cast(tf.minimum(tf.stack([width, height, frames, pixels], axis=-1), 2.0**62), tf.int64)
    values = tf.where(valid[..., None], values, tf.constant(_UNKNOWN, tf.int64))
    return tf.concat([tf.cast(fmt, tf.int64)[..., None], values], -1)


_read_header = tf.function(image_header, input_signature=[tf.TensorSpec([], tf.string)])
_first_call = threading.Lock()  # threads that call at once would each trace the function
_traced = threading.Event()


def read_header(data):
    """`image_header` of Python bytes, as a list of 5 ints; a JPEG whose
    header cannot be read gets -1 sizes instead of an exception."""
    if not _traced.is_set():
        with _first_call:
            _read_header.get_concrete_function()
            _traced.set()
    try:
        return [int(v) for v in _read_header(tf.constant(data)).numpy()]
    except tf.errors.InvalidArgumentError:
        return [FORMATS.index("JPEG"), *_UNKNOWN]


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
    header = read_header(data)
    fmt, pixels = header[0], header[4]
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
    """`image_bytes` (one image or a batch) with a graph assertion that they
    may be decoded: at most `max_bytes` bytes and a size read from the header
    (`image_header`, frames counted without walking a GIF) within
    `max_pixels`. Inside tf.data an image over the limits fails with
    InvalidArgumentError instead of taking gigabytes; the image check before
    training has already skipped such files, with a count that is never
    lower. Checking a batch at once costs about what one image does (the
    pipeline's `decode_images` does so). The raw Assert op is used: the
    `tf.debugging` asserts add a conditional, which costs several times the
    decoding itself inside tf.data."""
    if max_pixels is None and max_bytes is None:
        return image_bytes
    image_bytes = tf.convert_to_tensor(image_bytes, tf.string)
    length = tf.cast(tf.strings.length(image_bytes), tf.int64)
    reason = tf.fill(tf.shape(image_bytes), "")
    ok = tf.ones_like(length, tf.bool)
    if max_pixels is not None:
        pixels = image_header(image_bytes, walk_gif=False)[..., 4]
        ok &= (pixels >= 0) & (pixels <= max_pixels)
        reason = tf.where(pixels > max_pixels, tf.strings.join([
            "image of ", tf.strings.as_string(pixels), f" pixels, over the limit of {max_pixels}"]), reason)
        reason = tf.where(pixels < 0, f"image size unreadable from its header (not {READABLE_FORMATS})", reason)
    if max_bytes is not None:
        ok &= length <= max_bytes
        reason = tf.where(length > max_bytes, tf.strings.join([
            "image file of ", tf.strings.as_string(length), f" bytes, over the limit of {max_bytes}"]), reason)
    if image_bytes.shape.rank:  # a batch: the reasons of the images refused
        ok, reason = tf.reduce_all(ok), tf.boolean_mask(tf.reshape(reason, [-1]), ~tf.reshape(ok, [-1]))
    with tf.control_dependencies([tf.raw_ops.Assert(condition=ok, data=[reason])]):
        return tf.identity(image_bytes)


def decode_image(image_bytes, image_size, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES, crop=False):
    """Decode, resize to `image_size` squared and scale to [0, 1]; the size is
    checked against the limits from the header first (`checked_pixels`);
    None turns a limit off. `crop`: see the module's docstring."""
    image_bytes = checked_pixels(image_bytes, max_pixels, max_bytes)
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    if crop:
        import keras

        # Keras' aspect-preserving resize: the largest centred window of the target's aspect, then resized.
        image = keras.ops.image.resize(tf.cast(image, tf.float32), [image_size, image_size],
                                       interpolation="bilinear", crop_to_aspect_ratio=True)
    else:
        image = tf.image.resize(image, [image_size, image_size], method="bilinear")
    return image / 255.0


def load_image(path, image_size, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES, crop=False):
    return decode_image(tf.io.read_file(path), image_size, max_pixels, max_bytes, crop=crop)
