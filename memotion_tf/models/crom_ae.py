"""CROM-AE (cross-modality autoencoders) and RAW-N-COOK, the two models of the
semi-supervised MAMI paper, on CLIP features.

    CROM-AE (trained on every training meme, labels unused):
        F_image --image_encoder (Linear)--> Z_image --PReLU, Linear--> F̂_text   MSE(F̂_text, F_text)
        F_text  --text_encoder  (Linear)--> Z_text  --PReLU, Linear--> F̂_image  MSE(F̂_image, F_image)

    RAW-N-COOK (trained on the labelled subset only):
        [F_image; F_text; Z_image; Z_text] --Linear, PReLU, Dropout--> Linear --> one logit per label

The slides' "Detail Architecture" lists Encoder = (Input, Linear) and Decoder =
(PReLU, Linear, Output): the latent ("cooked") feature is the first Linear's
output, before the PReLU. Choices where the paper gives no number (configs
hold them): the latent width (`latent_dim`, 512 for ViT-L/14's 768-d
features), the classifier's hidden layer (`hidden_units` 512, PReLU, dropout
0.2), and that the encoders copied into RAW-N-COOK are fine-tuned with it
(`train_encoders=True`: the paper calls RAW-N-COOK its "finetune model" and
"integrates the pre-trained models into the supervised model").

`clip_meme_classifier` composes CLIP feature extraction, RAW-N-COOK and a
sigmoid into one model that takes token ids and images, which is what the
exported SavedModel serves.
"""

import keras

FEATURE_INPUTS = ("image_features", "text_features")


@keras.saving.register_keras_serializable(package="memotion_tf")
class CROMAE(keras.Model):
    """Cross-modality autoencoders: AE_image maps F_image to F̂_text and AE_text
    maps F_text to F̂_image, each Linear -> PReLU -> Linear.

    Args:
        image_dim: width of F_image.
        text_dim: width of F_text.
        latent_dim: width of the latent (cooked) features Z.

    Example:
    >>> ae = CROMAE(image_dim=768, text_dim=768, latent_dim=512)
    >>> ae.compile("adam", loss={"text_from_image": "mse", "image_from_text": "mse"})

    Reference: the semi-supervised MAMI paper, "Cross Modality Auto Encoder".
    """

    def __init__(self, image_dim, text_dim, latent_dim=512, **kwargs):
        # === Layers ===
        self.image_encoder = keras.layers.Dense(latent_dim, name="image_encoder")
        self.image_activation = keras.layers.PReLU(name="image_decoder_prelu")
        # The reconstructions are the outputs: float32 under a mixed precision policy.
        self.image_decoder = keras.layers.Dense(text_dim, dtype="float32", name="image_decoder")
        self.text_encoder = keras.layers.Dense(latent_dim, name="text_encoder")
        self.text_activation = keras.layers.PReLU(name="text_decoder_prelu")
        self.text_decoder = keras.layers.Dense(image_dim, dtype="float32", name="text_decoder")

        # === Functional Model ===
        image = keras.Input(shape=(image_dim,), name="image_features")
        text = keras.Input(shape=(text_dim,), name="text_features")
        text_hat = self.image_decoder(self.image_activation(self.image_encoder(image)))
        image_hat = self.text_decoder(self.text_activation(self.text_encoder(text)))
        super().__init__(
            inputs={"image_features": image, "text_features": text},
            outputs={"text_from_image": text_hat, "image_from_text": image_hat},
            **kwargs,
        )

        # === Config ===
        self.image_dim = image_dim
        self.text_dim = text_dim
        self.latent_dim = latent_dim

    def encode(self, image_features, text_features):
        """(Z_image, Z_text): the cooked features."""
        return self.image_encoder(image_features), self.text_encoder(text_features)

    def get_config(self):
        return {"image_dim": self.image_dim, "text_dim": self.text_dim, "latent_dim": self.latent_dim,
                "name": self.name, "trainable": self.trainable}


@keras.saving.register_keras_serializable(package="memotion_tf")
class RawNCook(keras.Model):
    """Classifier on raw CLIP features and, optionally, the CROM-AE encoders'
    latent features. Outputs one logit per label (sigmoid / multi-label).

    Args:
        image_dim, text_dim: widths of F_image and F_text.
        num_labels: number of binary labels (MAMI task B: 4).
        latent_dim: width of each encoder's output (as in `CROMAE`).
        use_encoders: concatenate the cooked features (False: the "w/o CROM-AE
            encoders" ablation, raw features only).
        train_encoders: fine-tune the encoders with the classifier.
        hidden_units: width of the hidden layer; 0 for a linear classifier
            (logistic regression on the features).
        dropout: dropout after the hidden layer.

    Call `load_encoders(crom_ae)` to start from a trained CROM-AE.

    Example:
    >>> model = RawNCook(image_dim=768, text_dim=768, num_labels=4)
    >>> model.load_encoders(trained_crom_ae)
    """

    def __init__(self, image_dim, text_dim, num_labels, latent_dim=512, use_encoders=True,
                 train_encoders=True, hidden_units=512, dropout=0.2, **kwargs):
        # === Layers ===
        self.image_encoder = self.text_encoder = None
        if use_encoders:
            self.image_encoder = keras.layers.Dense(latent_dim, name="image_encoder", trainable=train_encoders)
            self.text_encoder = keras.layers.Dense(latent_dim, name="text_encoder", trainable=train_encoders)
        self.concatenate = keras.layers.Concatenate(name="raw_and_cooked")
        self.hidden = self.hidden_activation = self.hidden_dropout = None
        if hidden_units:
            self.hidden = keras.layers.Dense(hidden_units, name="hidden")
            self.hidden_activation = keras.layers.PReLU(name="hidden_prelu")
            self.hidden_dropout = keras.layers.Dropout(dropout, name="hidden_dropout")
        # The output layer stays float32 under a mixed precision policy (stable loss).
        self.logits = keras.layers.Dense(num_labels, dtype="float32", name="logits")

        # === Functional Model ===
        image = keras.Input(shape=(image_dim,), name="image_features")
        text = keras.Input(shape=(text_dim,), name="text_features")
        parts = [image, text]
        if use_encoders:
            parts += [self.image_encoder(image), self.text_encoder(text)]
        x = self.concatenate(parts)
        if hidden_units:
            x = self.hidden_dropout(self.hidden_activation(self.hidden(x)))
        super().__init__(inputs={"image_features": image, "text_features": text},
                         outputs=self.logits(x), **kwargs)

        # === Config ===
        self.image_dim = image_dim
        self.text_dim = text_dim
        self.num_labels = num_labels
        self.latent_dim = latent_dim
        self.use_encoders = use_encoders
        self.train_encoders = train_encoders
        self.hidden_units = hidden_units
        self.dropout = dropout

    def load_encoders(self, crom_ae):
        """Copy the trained CROM-AE encoders' weights into this model."""
        if not self.use_encoders:
            raise ValueError("this RAW-N-COOK was built with use_encoders=False")
        if crom_ae.latent_dim != self.latent_dim:
            raise ValueError(f"CROM-AE latent_dim {crom_ae.latent_dim} != {self.latent_dim}")
        self.image_encoder.set_weights(crom_ae.image_encoder.get_weights())
        self.text_encoder.set_weights(crom_ae.text_encoder.get_weights())

    def get_config(self):
        return {
            "image_dim": self.image_dim, "text_dim": self.text_dim, "num_labels": self.num_labels,
            "latent_dim": self.latent_dim, "use_encoders": self.use_encoders,
            "train_encoders": self.train_encoders, "hidden_units": self.hidden_units,
            "dropout": self.dropout, "name": self.name, "trainable": self.trainable,
        }


def clip_meme_classifier(extractor, head, name="clip_meme_classifier"):
    """CLIP features -> `head` (logits) -> sigmoid probabilities, as one model
    with inputs `{"token_ids", "image"}` (what `export.export_classifier` serves)."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    image = keras.Input(shape=(extractor.image_size, extractor.image_size, 3), name="image")
    features = extractor({"token_ids": token_ids, "image": image})
    logits = head({k: features[k] for k in FEATURE_INPUTS})
    probabilities = keras.layers.Activation("sigmoid", dtype="float32", name="probabilities")(logits)
    return keras.Model({"token_ids": token_ids, "image": image}, probabilities, name=name)
