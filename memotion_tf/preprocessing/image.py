"""Image decoding shared by training, evaluation and the exported SavedModel.

Images are decoded by content (`tf.io.decode_image` reads the magic bytes, so a
JPEG named `.png` decodes), forced to 3 channels (grayscale is duplicated, alpha
dropped), resized to a square with bilinear interpolation and scaled by 1/255,
as UoR section 3.1 describes. UoR read images with cv2; TF's bilinear resize is
the same interpolation without cv2's pixel-centre rounding, a difference of at
most a few grey levels.

With `crop=True` the picture is not squashed: its centred square (side = the
shorter side) is resized to `image_size`, which keeps the same pixels as
resizing the shorter side to `image_size` and cropping the centre (1213Li,
section 3.2.1: "cropped into 3*224*224").
"""

import tensorflow as tf


def decode_image(image_bytes, image_size, crop=False):
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


def load_image(path, image_size, crop=False):
    return decode_image(tf.io.read_file(path), image_size, crop=crop)
