"""BiliMemeNet's Chinese BERT classifier (section 6.3.2) through keras-hub.

The paper fine-tunes Chinese BERT for 5 epochs on the jieba-tokenised chats
and reports 48% accuracy on the 6-class scheme. Here:

- `PROFILE=paper`: keras-hub's `bert_base_zh` preset (12 layers, Chinese
  Wikipedia; its own WordPiece vocabulary), max length 128.
- Embedded default and tests: a small *randomly initialised* BERT (no
  pretraining at all) whose WordPiece vocabulary is computed from the
  training text (`preprocessing.vocabularies.word_piece_vocabulary`). BERT's
  tokeniser splits CJK characters, so Chinese chats become one token per
  character either way. It shows the machinery works; it is not Chinese BERT.

The classifier is the project's `BertClassifier` (the keras-hub backbone's
pooled [CLS] -> Dropout -> Dense softmax, as keras-hub's `BertTextClassifier`
builds it), so it returns probabilities like the other models and exports with
`export.export_classifier`.
"""

from memotion_tf.models.bert_classifier import BertClassifier
from memotion_tf.models.pretrained import text_backbone, text_preprocessor

def chinese_bert_preprocessor(preset="", *, sequence_length, vocabulary=None, random_init=False):
    """Tokeniser + packer giving `token_ids`, `segment_ids`, `padding_mask`.

    With a preset its own preprocessor (with `random_init`, on an offline
    vocabulary of the preset's size: `pretrained.offline_tokenizer`); without,
    a BERT WordPiece preprocessor on `vocabulary` (lower-cased; CJK characters split)."""
    if not preset and vocabulary is None:
        raise ValueError("a BERT without a preset needs a `vocabulary` (see word_piece_vocabulary)")
    return text_preprocessor(preset, sequence_length=sequence_length, vocabulary=vocabulary,
                             random_init=random_init)


def chinese_bert_classifier(num_classes, preset="", *, vocabulary_size=None, sequence_length=128,
                            dropout=0.1, random_init=False, **bert_args):
    """A `BertClassifier` (softmax outputs) on a keras-hub BERT backbone.

    Args:
        num_classes: output classes.
        preset: keras-hub preset (e.g. `bert_base_zh`) or empty for a randomly
            initialised BERT sized by `bert_args` (`num_layers`, `num_heads`,
            `hidden_dim`, `intermediate_dim`; `pretrained.TINY_BERT` fills the rest).
        vocabulary_size: size of the WordPiece vocabulary (random init only).
        sequence_length: longest input the position embedding must cover.
        dropout: classifier-head dropout.
        random_init: with a preset, its full-size architecture with random
            weights (offline; `pretrained.paper_architecture`).
    """
    if preset:
        backbone = text_backbone(preset, random_init=random_init)
    else:
        if not vocabulary_size:
            raise ValueError("a BERT without a preset needs `vocabulary_size`")
        backbone = text_backbone("", vocabulary_size=vocabulary_size,
                                 max_sequence_length=sequence_length, **bert_args)
    return BertClassifier(backbone, num_classes=num_classes, dropout=dropout)
