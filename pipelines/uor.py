"""
Title: UoR at SemEval-2020 Task 8 — GMM oversampling and a CNN-LSTM for Memotion
Paper: Liu, Osei-Brefo, Chen, Liang, "UoR at SemEval-2020 Task 8: Gaussian Mixture Modelling (GMM) Based Sampling Approach for Multi-Modal Memotion Analysis", SemEval-2020, ACL Anthology 2020.semeval-1.159
Command: make reproduce-uor [PROFILE=quick|paper] [DATA_DIR=path/to/memotion_dataset_7k] [OUT=dir] [SEEDS=n]
Expected time: PROFILE=quick about 10 minutes on a 2-core CPU with the embedded synthetic data;
PROFILE=paper 6 systems x 5 runs x 20 epochs, best on a GPU.

What this reproduces: Table 1 (Memotion task A, 3-class sentiment) with its six rows:

| row          | text | image | GMM |
|--------------|------|-------|-----|
| LSTM-T       | yes  |       |     |
| LSTM-T+GMM   | yes  |       | yes |
| Conv1D-T     | yes  |       |     |
| Conv1D-T+GMM | yes  |       | yes |
| CNN-I        |      | yes   |     |
| CNN-LSTM-TI  | yes  | yes   |     |

The steps, each a function of `memotion_tf`:

1. Data. `labels.csv` is read (only the columns task A needs), every image is
   decoded once, and the memes whose image is missing or unreadable are
   reported and dropped before training. A stratified 20% hold-out becomes the
   validation split, the same for every row and run.
2. Text. A Keras-Tokenizer-equivalent `TextVectorization` learns the training
   split's vocabulary and pads every text with 0 at the front to 192 ids.
3. GMM (the +GMM rows). Each minority class's sequences are fitted by a
   scikit-learn GaussianMixture and sampled until the class matches the
   majority, then rounded back to valid token ids (Algorithm 2).
4. Training. Keras functional models, categorical cross-entropy and Adam,
   under MirroredStrategy when GPUs (or `--logical-cpus N`) are available.
5. Results. Macro F1 and accuracy over the runs (mean, std, min, max) beside
   the paper's numbers in `results.md`, a confusion matrix and training
   curves per row, and one SavedModel per row that takes raw text and image
   bytes.
"""

import sys

from memotion_tf.cli import main

if __name__ == "__main__":
    # The same as `memotion-tf reproduce uor [options]` (and `make reproduce-uor`).
    sys.exit(main(["reproduce", "uor", *sys.argv[1:]]))
