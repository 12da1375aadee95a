"""
Title: BiliMemeNet — Chinese bullet-chat (danmu) category classification
Paper: Tu, Mao, Xue, Zhang, "BiliMemeNet: Using NLP to Learn Chinese Meme From Bullet Chat",
       a UMass Amherst student project (code and data: GitHub h-tu/bilimemenet)
Command: memotion-tf reproduce bilimeme [--profile quick|paper] [--data-dir path] [--out dir] [--seeds n]
         (make reproduce-bilimeme [PROFILE=...] [DATA_DIR=...]; this script runs the same command)
Expected time: PROFILE=quick on the real processed split (150k chats) about 30 minutes on 2 idle CPU
cores (longer when other jobs share the CPU); a few minutes with the embedded synthetic data.
PROFILE=paper downloads the pretrained Chinese BERT and the prompt LM named in the configs through
keras-hub and needs a GPU.

What this reproduces, on Bilibili bullet chats segmented with jieba (stopwords-iso removed):

| row                  | paper section | classes             | metric        | paper          |
|----------------------|---------------|---------------------|---------------|----------------|
| Linear baseline      | 5             | 6 (paper: 5 largest)| accuracy      | 24.7%          |
| Chinese BERT         | 6.3.2         | 6                   | accuracy      | 48%            |
| Prompt 1-4 (Table 2) | 6.2.4         | 5 main categories   | Acc@1, Acc@3  | 0.093 - 0.158  |
| Prompt tuning        | 6.2.5         | 5 main categories   | Acc@1, Acc@3  | 0.151, 0.156   |

plus the trivial baselines (majority class; most frequent main category) on the same test split.
The code is `memotion_tf/papers/bilimeme.py` (class `BiliMemeNet`), run by `memotion_tf/runner.py`.

1. Data. `--data-dir` is the raw table (`danmu.csv`, or the CSV itself) or the processed split
   (`train.csv`, `val.csv`, `test.csv`); the form is detected. Without it, a synthetic copy in
   both forms is written once under the user cache (`MEMOTION_TF_HOME`). Chats are segmented by
   jieba and stopwords removed (`preprocessing.chinese`; jieba's cache under the user cache); the
   raw table's chats are labelled by their most frequent category (`datasets.danmu`) at the
   6-class and the 5-main-category level and split 72/8/20 by a hash of the chat. Every chat of
   the processed split counts: one that segmentation empties is scored as the empty text.
2. Linear baseline. A multi-hot bag of jieba words -> 4 x (Dense 50, LeakyReLU 0.1), dropout in
   the middle -> softmax (`models.linear_baseline`), trained on the paper's 2,000 random
   mini-batches, validated every 100; the best validation epoch is kept.
3. Chinese BERT. keras-hub's BERT: `bert_base_zh` for PROFILE=paper; a small randomly initialised
   BERT with a WordPiece vocabulary computed from the training chats for the quick profile
   (`models.chinese_bert`, `preprocessing.vocabularies`), bounded to 3,000 random mini-batches.
4. Prompts. The four templates of Table 2 on a keras-hub causal LM, the config's `preset`
   (Pangu-alpha has no Keras port): the five category names are ranked by their mean per-token
   log-likelihood (zero-shot). Prompt tuning trains 8 soft-prompt embeddings in front of the input
   while the LM stays frozen (`models.prompt_lm`). The quick profile's LM is tiny and random, so its
   prompt rows are chance-level by construction: they need pretrained weights to mean anything.
5. Results. Accuracy (6 classes) and the paper's Acc@1 / Acc@3 (5 main categories) on the test
   split beside the paper's numbers in `results.md`; a confusion matrix per row, training curves
   and TensorBoard logs for the trained rows, and one SavedModel per row. The SavedModels take
   jieba-segmented text (`memotion_tf.papers.bilimeme.segment_texts`), since jieba cannot run
   inside a SavedModel; `memotion-tf predict` segments for you.
"""

import sys

from memotion_tf.cli import main

if __name__ == "__main__":
    # The same as `memotion-tf reproduce bilimeme [options]` (and `make reproduce-bilimeme`).
    sys.exit(main(["reproduce", "bilimeme", *sys.argv[1:]]))
