"""memotion-tf: Keras 3 / TensorFlow reproductions of multimodal meme-analysis papers."""

__version__ = "0.1.0"
