"""Tiny synthetic MAMI copies and a tiny CLIP for the semi-supervised MAMI tests."""

import functools
import tempfile

_ROOT = tempfile.mkdtemp(prefix="memotion-tf-mami-ssl-tests-")

IMAGE_SIZE = 16  # two 8x8 patches a side
SEQUENCE_LENGTH = 32
# Overrides that shrink the paper protocol to seconds (every row).
TINY = ["epochs=2", f"image_size={IMAGE_SIZE}", f"max_length={SEQUENCE_LENGTH}", "batch_size=16",
        "protocol.crom_ae={'latent_dim': 8}"]


@functools.lru_cache(None)
def mami_dir(size=80, seed=2, test_size=16):
    """A small synthetic MAMI copy in the official layout (read-only)."""
    from memotion_tf.datasets.mami import write_synthetic_mami

    return write_synthetic_mami(f"{_ROOT}/mami_{size}_{seed}", size=size, seed=seed, test_size=test_size)


def frame(size=24, seed=5, split="train"):
    """The copy's rows as the reproduction reads them."""
    from memotion_tf.datasets.mami import read_mami

    return read_mami(mami_dir(size, seed, test_size=8), task="B", split=split).frame


def tiny_feature_model(init_seed=0):
    """(CLIPFeatureExtractor, CLIPTextVectorizer) around a random tiny CLIP."""
    from memotion_tf.features.clip import CLIPFeatureExtractor, CLIPTextVectorizer, build_clip

    backbone, tokenizer = build_clip("", image_size=IMAGE_SIZE, sequence_length=SEQUENCE_LENGTH,
                                     init_seed=init_seed)
    return (CLIPFeatureExtractor(backbone),
            CLIPTextVectorizer(tokenizer, sequence_length=SEQUENCE_LENGTH, standardize="mami_clean"))
