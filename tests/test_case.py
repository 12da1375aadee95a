"""A shared TestCase with the checks every model gets (keras-hub's `TestCase`)."""

import os

import keras
import numpy as np
import tensorflow as tf


class TestCase(tf.test.TestCase):
    """tf.test.TestCase plus `run_model_test` and `run_export_test`."""

    test_session = None  # tf.test.TestCase's always-skipped legacy method, not a test

    def run_model_test(self, model, inputs):
        """Config round trip, eager call vs predict on tf.data, and .keras save/load."""
        outputs = model(inputs, training=False)
        self.assertAllClose(tf.reduce_sum(outputs, -1), tf.ones(outputs.shape[0]), atol=1e-5)

        clone = type(model).from_config(model.get_config())
        self.assertEqual(clone.count_params(), model.count_params())
        self.assertEqual(clone.get_config(), model.get_config())

        ds = tf.data.Dataset.from_tensor_slices(inputs).batch(2)
        self.assertAllClose(model.predict(ds, verbose=0), outputs, atol=1e-5)

        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertAllClose(restored(inputs, training=False), outputs, atol=1e-5)
        return outputs

    def run_export_test(self, model, frame, *, class_names, vectorizer=None, image_size=None):
        """Export with raw-input serving; the SavedModel's outputs equal the
        in-memory model's on the same memes read through the training pipeline."""
        from memotion_tf.export import export_classifier, load_exported, model_modalities
        from memotion_tf.input_pipeline import meme_dataset

        modalities = model_modalities(model)
        ds = meme_dataset(frame, modalities=modalities, batch_size=8, vectorizer=vectorizer,
                          image_size=image_size or 128)
        expected = model.predict(ds, verbose=0)
        path = os.path.join(self.get_temp_dir(), "saved_model")
        export_classifier(model, path, class_names=class_names, vectorizer=vectorizer,
                          image_size=image_size, metadata={"system": "test"})
        serve, meta, _ = load_exported(path)
        images = []
        for p in frame["image_path"]:
            with open(p, "rb") as f:
                images.append(f.read())
        out = serve(text=tf.constant(frame["text"].astype(str).tolist()), image=tf.constant(images))
        self.assertAllClose(out["probabilities"], expected, atol=1e-5)
        labels = [s.decode() for s in out["label"].numpy()]
        self.assertEqual(labels, [class_names[i] for i in np.argmax(expected, -1)])
        self.assertEqual(meta["class_names"], list(class_names))
        return path
