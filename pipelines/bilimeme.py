"""
Title: BiliMemeNet — Chinese bullet-chat (danmu) category classification
Paper: Tu, Mao, Xue, Zhang, "BiliMemeNet: Using NLP to Learn Chinese Meme From Bullet Chat",
       a UMass Amherst student project (code and data: GitHub h-tu/bilimemenet)
Command: make reproduce-bilimeme [PROFILE=quick|paper] [DATA_DIR=path] [OUT=dir] [SEEDS=n]
Expected time: PROFILE=quick about 10-15 minutes on a 2-core CPU with the embedded synthetic
data (longer when other jobs share the CPU); PROFILE=paper downloads bert_base_zh and
gpt2_base_en through keras-hub and needs a GPU.

What this reproduces, on Bilibili bullet chats segmented with jieba (stopwords-iso removed):

| row                  | paper section | classes             | metric        | paper          |
|----------------------|---------------|---------------------|---------------|----------------|
| Linear baseline      | 5             | 6 (paper: 5 largest)| accuracy      | 24.7%          |
| Chinese BERT         | 6.3.2         | 6                   | accuracy      | 48%            |
| Prompt 1-4 (Table 2) | 6.2.4         | 5 main categories   | Acc@1, Acc@3  | 0.093 - 0.158  |
| Prompt tuning        | 6.2.5         | 5 main categories   | Acc@1, Acc@3  | 0.151, 0.156   |

The steps, each a function of `memotion_tf`:

1. Data. `DATA_DIR` is the raw table (`danmu.csv`, or the CSV itself) or the processed split
   (`train.csv`, `val.csv`, `test.csv`); the form is detected. Without it, a synthetic copy in
   both forms is written once under `data/synthetic/`. Chats are segmented by jieba and
   stopwords removed (`preprocessing.chinese`); the raw table's chats are labelled by their
   most frequent category (`datasets.danmu`) at the 6-class and the 5-main-category level and
   split 72/8/20 by a hash of the chat.
2. Linear baseline. A multi-hot bag of jieba words -> 4 x (Dense 50, LeakyReLU 0.1), dropout in
   the middle -> softmax (`models.linear_baseline`).
3. Chinese BERT. keras-hub's `BertTextClassifier`: `bert_base_zh` for PROFILE=paper; a small
   randomly initialised BERT with a WordPiece vocabulary computed from the training chats for
   the embedded default (`models.chinese_bert`, `preprocessing.vocabularies`).
4. Prompts. The four templates of Table 2 on keras-hub's GPT-2 (Pangu-alpha has no Keras port):
   the five category names are ranked by the LM's log-likelihood (zero-shot). Prompt tuning
   trains 8 soft-prompt embeddings in front of the input while the LM stays frozen
   (`models.prompt_lm`). The embedded default's GPT-2 is tiny and random, so its zero-shot
   scores are chance-level by construction.
5. Results. Accuracy (6 classes) and the paper's Acc@1 / Acc@3 (5 main categories) on the test
   split beside the paper's numbers in `results.md`; a confusion matrix per row, training curves
   for the trained rows, and one SavedModel per row. The SavedModels take jieba-segmented text
   (`reproductions.bilimeme.segment_texts`), since jieba cannot run inside a SavedModel.
"""

import sys

from memotion_tf.cli import main

if __name__ == "__main__":
    # The same as `memotion-tf reproduce bilimeme [options]` (and `make reproduce-bilimeme`).
    sys.exit(main(["reproduce", "bilimeme", *sys.argv[1:]]))
