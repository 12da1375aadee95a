"""Discrete prompts and prompt tuning with a keras-hub causal LM (BiliMemeNet section 6.2).

The paper prompts Pangu-alpha (2.6B), a Chinese LM with no Keras port. The LM
here is any decoder-only keras-hub backbone, chosen by the config's `preset`
through keras-hub's own machinery (`Backbone.from_preset` / `Tokenizer.from_preset`
read the class from the preset), so switching LM is a config change:

- `PROFILE=paper`: `qwen2.5_0.5b_en` (Qwen2.5-0.5B, base model). Of the causal
  LMs keras-hub ships, it is the one closest to Pangu-alpha's role: a plain
  pretrained (not instruction-tuned) LM whose pretraining data is largely
  Chinese and English (Qwen2.5 Technical Report, arXiv:2412.15115), with a
  byte-level BPE holding many Chinese words, at 0.49B parameters (it runs
  frozen on one 16 GB GPU). `bloom_560m_multi` (BLOOM, 46 languages, Chinese
  among them) is the alternative; its 250,880-token vocabulary makes the
  logits of the five candidate answers 1.65x larger, and `bloomz_560m_multi`
  is instruction-tuned, unlike Pangu-alpha. `gpt2_base_en` (English) was the
  earlier stand-in.
- Tests and the embedded default: a tiny randomly initialised backbone of a
  given `family` ("gpt2", "qwen" or "bloom"; `TINY_LMS`) with a byte-level
  vocabulary built from the data (`lm_tokenizer`).
- `random_init=True` with a preset: the preset's full-size architecture
  written in `models.pretrained.PAPER_ARCHITECTURES`, random weights, offline.

Prompts follow the paper's `[question]\\n[choice]\\n[answer]` format (Table 2):
a template with the chat at `[A]`, e.g.

    网络语言分类：[A]
    选项：动画，音乐舞蹈，知识，生活，影视
    答案：

Classification ranks the five main-category names by the LM's log-likelihood
of each name as the continuation of the filled-in template (the sum of the
name's token log-probabilities, i.e. the probability that the LM writes
exactly that name). Pangu's generated text was matched against the names in
the paper; ranking the names is the deterministic form of that, and never
yields an answer outside the five.

Prompt tuning (section 6.2.5): trainable soft-prompt embeddings are prepended
to the token embeddings ("a small set of parameters in the front of input
embedding", in place of the template's question words) while every weight of
the LM stays frozen; they are trained with the LM loss on the gold answer's
tokens.

`PromptLM` is the LM forward pass of keras-hub's `CausalLM`s (token embedding
-> the backbone's own graph from the embedding to its sequence output ->
reversed token embedding), with the optional `SoftPrompt` between the first
two; without a soft prompt its logits equal `GPT2CausalLM`'s, `QwenCausalLM`'s
and `BloomCausalLM`'s (tested). `PromptScorer` builds the candidate sequences
with TensorFlow ops only, so its scoring function exports into a SavedModel
that takes raw text (the tokenizer inside).
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from memotion_tf.io import atomic_directory
from memotion_tf.models.bert_classifier import BackboneModel

PLACEHOLDER = "[A]"
SCORE_MODES = ("sum", "mean")

# A tiny GPT-2 for tests and the embedded default (randomly initialised).
TINY_GPT2 = {"num_layers": 2, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64, "dropout": 0.0}
# Tiny randomly initialised LMs per family: (backbone class, tokenizer class,
# the tokenizer's special tokens in id order, tiny config).
TINY_LMS = {
    "gpt2": ("GPT2Backbone", "GPT2Tokenizer", ("<|endoftext|>",), TINY_GPT2),
    "qwen": ("QwenBackbone", "QwenTokenizer", ("<|endoftext|>",),
             {"num_layers": 2, "num_query_heads": 2, "num_key_value_heads": 1, "hidden_dim": 32,
              "intermediate_dim": 64}),
    "bloom": ("BloomBackbone", "BloomTokenizer", ("<unk>", "<s>", "</s>", "<pad>"),
              {"num_layers": 2, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64}),
}


def split_template(template):
    """'prefix[A]suffix' -> (prefix, suffix). Exactly one `[A]` is required."""
    count = template.count(PLACEHOLDER)
    if count != 1:
        raise ValueError(f"a prompt template needs exactly one {PLACEHOLDER} (the chat), found {count}: "
                         f"{template!r}")
    prefix, suffix = template.split(PLACEHOLDER)
    return prefix, suffix


@keras.saving.register_keras_serializable(package="memotion_tf")
class SoftPrompt(keras.layers.Layer):
    """`num_tokens` trainable embeddings prepended to every sequence.

    call(embeddings [b, t, h], padding_mask [b, t]) -> ([b, n + t, h], [b, n + t]).

    Args:
        num_tokens: soft-prompt length n.
        hidden_dim: the LM's embedding width h.
        initializer_stddev: standard deviation of the normal initialiser.
    """

    def __init__(self, num_tokens, hidden_dim, initializer_stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.hidden_dim = hidden_dim
        self.initializer_stddev = initializer_stddev
        self.embeddings = self.add_weight(
            shape=(num_tokens, hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=initializer_stddev),
            name="embeddings",
        )
        self.built = True

    def call(self, embeddings, padding_mask):
        batch = ops.shape(embeddings)[0]
        prompt = ops.cast(ops.expand_dims(self.embeddings, 0), embeddings.dtype)
        prompt = ops.broadcast_to(prompt, (batch, self.num_tokens, self.hidden_dim))
        ones = ops.ones((batch, self.num_tokens), dtype=padding_mask.dtype)
        return (ops.concatenate([prompt, embeddings], axis=1),
                ops.concatenate([ones, padding_mask], axis=1))

    def compute_output_spec(self, embeddings, padding_mask):
        length = None if embeddings.shape[1] is None else embeddings.shape[1] + self.num_tokens
        return (keras.KerasTensor((embeddings.shape[0], length, self.hidden_dim), embeddings.dtype),
                keras.KerasTensor((padding_mask.shape[0], length), padding_mask.dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"num_tokens": self.num_tokens, "hidden_dim": self.hidden_dim,
                       "initializer_stddev": self.initializer_stddev})
        return config


def embedding_to_sequence(backbone):
    """The backbone's own graph from its token embedding's output to its
    sequence output, as a model taking [embeddings, padding_mask].

    keras-hub's decoder-only backbones (GPT-2, Qwen, BLOOM, Llama, ...) read
    the token ids only through `token_embedding`; positions (learned, rotary or
    ALiBi) and the causal mask come from the embeddings' length and the padding
    mask, so the same graph takes a soft prompt prepended to the embeddings.
    The layers (and weights) are the backbone's."""
    try:
        embedded = backbone.token_embedding.output  # its call inside the backbone's graph
        return keras.Model([embedded, backbone.input["padding_mask"]], backbone.output,
                           name=f"{backbone.name}_from_embeddings")
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"PromptLM needs a decoder-only keras-hub backbone taking token_ids and padding_mask "
                         f"whose token ids enter only through `token_embedding`; {type(backbone).__name__} "
                         f"does not ({e})") from e


@keras.saving.register_keras_serializable(package="memotion_tf")
class PromptLM(BackboneModel):
    """A frozen keras-hub causal LM with an optional trainable soft prompt in front.

    Inputs `token_ids`, `padding_mask` [batch, length]; output next-token
    logits [batch, length, vocabulary] (float32 under any dtype policy) for
    the token positions (the soft prompt's positions are dropped). Every
    backbone weight is frozen, so with `num_prompt_tokens > 0` the soft prompt
    is the only trainable weight.

    Args:
        backbone: a decoder-only keras-hub backbone (`GPT2Backbone`,
            `QwenBackbone`, `BloomBackbone`, ...; pretrained or random).
        num_prompt_tokens: soft-prompt length; 0 for discrete prompts only.
        initializer_stddev: the soft prompt's initial scale.

    Example:
    >>> backbone = causal_lm_backbone(family="qwen", vocabulary_size=300)
    >>> lm = PromptLM(backbone, num_prompt_tokens=8)
    >>> lm.trainable_weights  # [soft_prompt/embeddings]

    Reference: Lester, Al-Rfou and Constant, "The Power of Scale for
    Parameter-Efficient Prompt Tuning", EMNLP 2021 (arXiv:2104.08691).
    """

    def __init__(self, backbone, num_prompt_tokens=0, initializer_stddev=0.02, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.backbone.trainable = False
        body = embedding_to_sequence(backbone)
        self.soft_prompt = None
        if num_prompt_tokens:
            self.soft_prompt = SoftPrompt(num_prompt_tokens, backbone.hidden_dim, initializer_stddev,
                                          name="soft_prompt")
        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        x = backbone.token_embedding(token_ids)
        mask = padding_mask
        if self.soft_prompt is not None:
            x, mask = self.soft_prompt(x, padding_mask)
        x = body([x, mask])
        if num_prompt_tokens:
            x = x[:, num_prompt_tokens:, :]
        hidden = x
        logits = backbone.token_embedding(x, reverse=True)
        # float32 logits under a mixed precision policy: the log-softmax over a
        # vocabulary of 10^5 tokens and the LM loss need the range.
        logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask},
                         outputs=logits, **kwargs)
        # === Config ===
        self.num_prompt_tokens = num_prompt_tokens
        self.initializer_stddev = initializer_stddev
        self._hidden = hidden

    def hidden_states(self):
        """A model (sharing this one's layers) from the same inputs to the
        final hidden states [batch, length, hidden] that the logits are
        computed from with `backbone.token_embedding(h, reverse=True)`: scoring
        needs the logits at a few positions only, not [batch, length,
        vocabulary] (4.7 GB in float32 for 80 sequences of 96 tokens over
        Qwen's 151,936 tokens)."""
        return keras.Model(self.input, self._hidden, name=f"{self.name}_hidden_states")

    def get_config(self):
        return {
            "name": self.name,
            "backbone": keras.layers.serialize(self.backbone),
            "num_prompt_tokens": self.num_prompt_tokens,
            "initializer_stddev": self.initializer_stddev,
        }


def _family(preset, family):
    """The `TINY_LMS` family of a preset written in `PAPER_ARCHITECTURES`, else `family`."""
    if preset:
        from memotion_tf.models.pretrained import architecture

        backbone = architecture(preset).backbone
        for name, (cls, *_rest) in TINY_LMS.items():
            if cls == backbone:
                return name
        raise ValueError(f"preset {preset!r} ({backbone}) is not a causal LM of {sorted(TINY_LMS)}")
    if family not in TINY_LMS:
        raise ValueError(f"unknown LM family {family!r}; known: {sorted(TINY_LMS)}")
    return family


def causal_lm_backbone(preset="", *, random_init=False, family="gpt2", vocabulary_size=None,
                       max_sequence_length=256, **tiny_args):
    """A decoder-only keras-hub backbone for `PromptLM`.

    - `preset`: `keras_hub.models.Backbone.from_preset(preset)`; the preset's
      own config names the class (GPT-2, Qwen, BLOOM, ...), so any keras-hub
      causal LM preset works without a code change.
    - `preset` with `random_init`: the preset's full-size architecture from
      `models.pretrained.PAPER_ARCHITECTURES`, random weights, offline.
    - no preset: a tiny random backbone of `family` (`TINY_LMS`, updated with
      `tiny_args`) over `vocabulary_size` ids; `max_sequence_length` sizes
      GPT-2's learned positions (the others have none).
    """
    import keras_hub

    if preset and random_init:
        from memotion_tf.models.pretrained import paper_architecture

        return paper_architecture(preset)
    if preset:
        return keras_hub.models.Backbone.from_preset(preset)
    if not vocabulary_size:
        raise ValueError("a causal LM without a preset needs `vocabulary_size`")
    backbone_cls, _, _, tiny = TINY_LMS[_family("", family)]
    args = dict(tiny, **tiny_args)
    if backbone_cls == "GPT2Backbone":
        args["max_sequence_length"] = max_sequence_length
    return getattr(keras_hub.models, backbone_cls)(vocabulary_size=vocabulary_size, **args)


def gpt2_backbone(preset="", *, vocabulary_size=None, max_sequence_length=256, **tiny_args):
    """A keras-hub GPT-2 backbone: `from_preset` (e.g. `gpt2_base_en`) or a
    randomly initialised one sized by `TINY_GPT2` updated with `tiny_args`."""
    return causal_lm_backbone(preset, family="gpt2", vocabulary_size=vocabulary_size,
                              max_sequence_length=max_sequence_length, **tiny_args)


def lm_tokenizer(preset="", *, random_init=False, family="gpt2", texts=(), min_count=1):
    """The LM's keras-hub tokenizer.

    With a pretrained preset, `keras_hub.models.Tokenizer.from_preset(preset)`
    (the class comes from the preset). Otherwise (no preset, or `random_init`)
    the family's tokenizer class (the preset's, with a preset) on an offline
    byte-level BPE vocabulary: the family's special tokens first, the 256
    byte symbols, and one token per non-ASCII character of `texts`
    (`preprocessing.vocabularies.byte_level_vocabulary`), so Chinese text
    tokenises one character per token. It is not the preset's learned
    vocabulary: with `random_init` it only has to index the full-size
    embedding (its ids are far below the preset's vocabulary size). The
    TensorFlow tokenising path is used eagerly too, so eager calls, tf.data and
    an exported SavedModel tokenise identically.
    """
    import keras_hub

    if preset and not random_init:
        return keras_hub.models.Tokenizer.from_preset(preset)
    from memotion_tf.preprocessing.vocabularies import byte_level_vocabulary

    _, tokenizer_cls, specials, _ = TINY_LMS[_family(preset, family)]
    vocabulary, merges = byte_level_vocabulary(texts, min_count=min_count, special_tokens=specials)
    tokenizer = getattr(keras_hub.models, tokenizer_cls)(vocabulary=vocabulary, merges=merges,
                                                         _allow_python_workflow=False)
    if preset:
        from memotion_tf.models.pretrained import architecture

        size = architecture(preset).config["vocabulary_size"]
        if tokenizer.vocabulary_size() > size:
            raise ValueError(f"the offline vocabulary ({tokenizer.vocabulary_size()} tokens) exceeds {preset}'s "
                             f"{size} embedding rows")
    return tokenizer


def _ragged(rows):
    return tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1) if rows else tf.ragged.constant(
        [[]], dtype=tf.int32)


class PromptScorer:
    """Rank candidate answers by a `PromptLM`'s log-likelihood.

    Args:
        lm: a `PromptLM`.
        tokenizer: the LM's keras-hub tokenizer (byte-pair: GPT-2, Qwen, BLOOM, ...).
        template: prompt with one `[A]` where the chat goes.
        candidates: the answer strings (the five main-category names).
        max_text_tokens: the chat's tokens are truncated to this many.
        score: "sum" (log-probability of the whole answer) or "mean" (per token).
        strip_spaces: remove whitespace from the chat first (the dataset holds
            jieba words joined by spaces; the paper's prompts show chats as
            written, without spaces).
    """

    def __init__(self, lm, tokenizer, template, candidates, *, max_text_tokens=64, score="sum",
                 strip_spaces=True):
        if score not in SCORE_MODES:
            raise ValueError(f"score must be one of {SCORE_MODES}, not {score!r}")
        self.lm = lm
        self.tokenizer = tokenizer
        self.template = template
        self.prefix, self.suffix = split_template(template)
        self.candidates = tuple(candidates)
        self.max_text_tokens = int(max_text_tokens)
        self.score = score
        self.strip_spaces = strip_spaces
        self.start_id = int(tokenizer.start_token_id if tokenizer.start_token_id is not None
                            else tokenizer.end_token_id)
        self._hidden_states = lm.hidden_states()
        pieces = self._tokenize(tf.constant([self.prefix, self.suffix, *self.candidates])).to_list()
        self.prefix_ids, self.suffix_ids = pieces[0], pieces[1]
        self.candidate_ids = pieces[2:]
        empty = [c for c, ids in zip(self.candidates, self.candidate_ids) if not ids]
        if empty:
            raise ValueError(f"candidate answers {empty} tokenise to nothing")
        # One trace for every batch size: tracing the BPE tokeniser is the slow part.
        self._log_likelihood = tf.function(self.log_likelihood,
                                           input_signature=[tf.TensorSpec([None], tf.string)])

    # --- sequences -----------------------------------------------------------

    def _tokenize(self, texts):
        """[batch] strings -> ragged int32 ids. Inside a tf.function or tf.data
        keras-hub tokenisers return tensors; called eagerly they return
        Python lists, which are turned back into a ragged tensor."""
        ids = self.tokenizer(texts)
        if isinstance(ids, tf.RaggedTensor):
            return tf.cast(ids, tf.int32)
        if isinstance(ids, tf.Tensor):
            return tf.RaggedTensor.from_tensor(tf.cast(ids, tf.int32))
        rows = [list(np.asarray(row, np.int64).reshape(-1)) for row in ids]
        return tf.RaggedTensor.from_row_lengths(
            tf.constant([t for row in rows for t in row], tf.int32, shape=[sum(map(len, rows))]),
            tf.constant([len(row) for row in rows], tf.int64))

    def prompt_ids(self, texts):
        """[batch] strings -> ragged [batch, None] ids: start, prefix, chat, suffix."""
        texts = tf.convert_to_tensor(texts, tf.string)
        if self.strip_spaces:
            texts = tf.strings.regex_replace(texts, r"\s+", "")
        chat = self._tokenize(texts)[:, :self.max_text_tokens]
        batch = tf.shape(texts)[0]

        def constant(ids):
            row = tf.constant(ids, tf.int32, shape=[len(ids)])
            return tf.RaggedTensor.from_tensor(tf.tile(row[None, :], [batch, 1]))

        return tf.concat([constant([self.start_id]), constant(self.prefix_ids), chat,
                          constant(self.suffix_ids)], axis=1)

    def _dense(self, ids, answer):
        return (
            {"token_ids": ids.to_tensor(0), "padding_mask": tf.ones_like(ids).to_tensor(0)},
            answer.to_tensor(0),
        )

    def candidate_inputs(self, texts):
        """Every (chat, candidate) sequence: features for the LM ([batch * C,
        length], chat-major) and the 0/1 mask of the candidate's tokens."""
        prompts = self.prompt_ids(texts)
        batch = prompts.nrows(out_type=tf.int32)
        count = len(self.candidates)
        prompts = tf.gather(prompts, tf.repeat(tf.range(batch), count))
        answers = tf.gather(_ragged(self.candidate_ids), tf.tile(tf.range(count), [batch]))
        ids = tf.concat([prompts, answers], axis=1)
        answer = tf.concat([tf.zeros_like(prompts), tf.ones_like(answers)], axis=1)
        return self._dense(ids, answer)

    def answer_examples(self, texts, labels):
        """Teacher-forced LM examples for training on the gold answer:
        (features, next-token targets, weights on the answer's tokens only)."""
        prompts = self.prompt_ids(texts)
        answers = tf.gather(_ragged(self.candidate_ids), tf.cast(labels, tf.int32))
        ids = tf.concat([prompts, answers], axis=1)
        answer = tf.concat([tf.zeros_like(prompts), tf.ones_like(answers)], axis=1)
        features, answer = self._dense(ids, answer)
        inputs = {k: v[:, :-1] for k, v in features.items()}
        targets = features["token_ids"][:, 1:]
        # Keras averages a weighted loss over all batch x length positions;
        # scaling the 0/1 weights by positions / answer tokens makes that
        # average the mean loss per answer token, whatever the padding.
        weights = tf.cast(answer[:, 1:], tf.float32)
        weights *= tf.cast(tf.size(weights), tf.float32) / tf.maximum(tf.reduce_sum(weights), 1.0)
        return inputs, targets, weights

    # --- scores --------------------------------------------------------------

    def log_likelihood(self, texts):
        """[batch] strings -> [batch, C] log-likelihood of each candidate.

        Only the positions that predict an answer token go through the
        output embedding and the (float32) log-softmax: the LM's logits at
        every position would be [batch x C, length, vocabulary]."""
        features, answer = self.candidate_inputs(texts)
        hidden = self._hidden_states(features, training=False)
        # Position t - 1 predicts token t; the answer's tokens are marked in `answer`.
        where = tf.where(answer[:, 1:] > 0)  # [K, 2]: (sequence, position)
        states = tf.gather_nd(hidden[:, :-1], where)
        logits = self.lm.backbone.token_embedding(states, reverse=True)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        targets = tf.gather_nd(features["token_ids"][:, 1:], where)
        token_scores = tf.gather(log_probs, targets, batch_dims=1)
        sequences = tf.shape(answer)[0]
        total = tf.math.unsorted_segment_sum(token_scores, where[:, 0], sequences)
        if self.score == "mean":
            counts = tf.math.unsorted_segment_sum(tf.ones_like(token_scores), where[:, 0], sequences)
            total = total / tf.maximum(counts, 1.0)
        return tf.reshape(total, [-1, len(self.candidates)])

    def scores(self, texts, batch_size=64):
        """NumPy [n, C] log-likelihoods of a list of chats, batch by batch."""
        texts = [str(t) for t in texts]
        out = [self._log_likelihood(tf.constant(texts[i:i + batch_size]))
               for i in range(0, len(texts), batch_size)]
        if not out:
            return np.zeros((0, len(self.candidates)), np.float32)
        return np.concatenate([o.numpy() for o in out])

    def training_dataset(self, texts, labels, batch_size, shuffle_seed=None, epoch=None, steps=None):
        """tf.data of (features, targets, weights) on the gold answers.

        With `epoch` (a `training.epochs.EpochCounter`'s variable) each
        epoch's order (and, with `steps`, its `steps` random batches) comes
        from (shuffle_seed, epoch): see `input_pipeline.epoch_batches`."""
        from memotion_tf.input_pipeline import array_dataset

        rows = (np.asarray(texts, dtype=object).astype(str), np.asarray(labels, np.int32))
        if epoch is not None:
            ds = array_dataset(rows, batch_size, epoch, shuffle_seed, steps=steps)
        else:
            ds = tf.data.Dataset.from_tensor_slices(rows)
            if shuffle_seed is not None:
                ds = ds.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
            ds = ds.batch(batch_size)
        ds = ds.map(self.answer_examples, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)


def export_prompt_scorer(scorer, path, *, class_names, metadata):
    """SavedModel with the project's serving signature, scoring by the prompt.

    serving_default(text: string [batch], image: string [batch], ignored)
    -> probabilities: float32 [batch, C] (softmax over the candidates'
    log-likelihoods), log_likelihood: float32 [batch, C], label: string,
    error: string ("" always), text_tokens: int32 (the chat's tokens before
    truncation to `max_text_tokens`, which the metadata records).
    The template, candidates, tokenizer and LM are inside; written atomically.
    """
    from memotion_tf.export import METADATA_FILE, SIGNATURE

    archive = keras.export.ExportArchive()
    archive.track(scorer.lm)
    archive.track(scorer.tokenizer)
    names = tf.constant(list(class_names))

    def serve(text, image):
        del image
        log_likelihood = scorer.log_likelihood(text)
        probabilities = tf.nn.softmax(log_likelihood, axis=-1)
        chat = tf.strings.regex_replace(text, r"\s+", "") if scorer.strip_spaces else text
        return {"probabilities": probabilities, "log_likelihood": log_likelihood,
                "label": tf.gather(names, tf.argmax(log_likelihood, -1)),
                "error": tf.fill(tf.shape(text), ""),
                "text_tokens": tf.cast(scorer._tokenize(chat).row_lengths(), tf.int32)}

    archive.add_endpoint(SIGNATURE, serve, input_signature=[
        tf.TensorSpec([None], tf.string, name="text"),
        tf.TensorSpec([None], tf.string, name="image"),
    ])
    with atomic_directory(path) as tmp:
        archive.write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        meta = dict(metadata, class_names=list(class_names), modalities=["text"], multi_label=False,
                    threshold=None, template=scorer.template, candidates=list(scorer.candidates),
                    score=scorer.score, max_text_tokens=scorer.max_text_tokens, text_truncation="end")
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(meta, f, indent=2, ensure_ascii=False)
    return path
