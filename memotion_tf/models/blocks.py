"""Branches shared by UoR's text, image and fusion models (section 4)."""

import keras


def lstm_text_branch(token_ids, vocabulary_size, embedding_dim, lstm_units, name="text"):
    """Embedding (100-d in the paper) -> LSTM (128 units), last state."""
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name=f"{name}_embedding")(token_ids)
    return keras.layers.LSTM(lstm_units, name=f"{name}_lstm")(x)


def cnn_image_branch(image, filters=(32, 64, 128), name="image"):
    """Conv 3x3 + ReLU + 2x2 max-pool per block; 128x128 -> 16x16 after three
    blocks of 32/64/128 filters, then flattened (section 4.2)."""
    x = image
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"{name}_conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"{name}_pool{i + 1}")(x)
    return keras.layers.Flatten(name=f"{name}_flatten")(x)
