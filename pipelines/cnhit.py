"""
Title: CN-HIT-MI.T at SemEval-2020 Task 8 — BERT with TSA and KL, ResNet with RandAugment, TFNet and HFM
Paper: Li, Zhang, Xu, Zhao, "CN-HIT-MI.T at SemEval-2020 Task 8: Memotion Analysis Based on BERT", SemEval-2020, ACL Anthology 2020.semeval-1.145
Command: make reproduce-cnhit [PROFILE=quick|paper] [DATA_DIR=path/to/memotion_dataset_7k] [OUT=dir] [SEEDS=n]
Expected time: PROFILE=quick about 15 minutes on a 2-core CPU with the embedded synthetic data;
PROFILE=paper 7 systems x 5 folds x 10 epochs with BERT-base and ResNet-101, for a GPU.

What this reproduces: Table 2 (Memotion task A, 3-class sentiment, macro F1), in its row order:

| row           | text            | image               | loss                  |
|---------------|-----------------|---------------------|-----------------------|
| HFM           | BERT + BiLSTM   | ResNet regions      | cross-entropy         |
| TFNet         | BERT            | ResNet              | cross-entropy         |
| TFNet+TSA     | BERT            | ResNet              | TSA                   |
| ResNet        |                 | ResNet-101          | cross-entropy         |
| BERT          | BERT-base       |                     | cross-entropy         |
| ResNet+TSA+RA |                 | ResNet + RandAugment| TSA                   |
| BERT+TSA+KL   | BERT, two views |                     | TSA + KL(clean ‖ raw) |

The steps, each a function of `memotion_tf`:

1. Data. `labels.csv` is read and checked as for UoR, then split into 5
   stratified folds (4:1). Run i trains on fold i with seed i; the quick
   profile runs fold 0.
2. Text. The training text is cleaned (URLs, watermarks, handles removed;
   run-on sentences split: `preprocessing/cleaning.py`). BERT's WordPiece
   preprocessor from keras-hub runs in tf.data and inside the SavedModel.
   Evaluation uses the raw text, as the paper's test set did.
3. Images. Decoded, resized and scaled to [0, 1]; the ImageNet normalisation is
   inside the model. RandAugment (N=14, M=11) draws each image's operations
   independently, per step, inside tf.data.
4. Losses. Training Signal Annealing drops the examples whose correct-class
   probability is above the annealed threshold; BERT+TSA+KL applies one BERT to
   the cleaned and the raw text in the same step and adds KL(clean ‖ raw).
5. Optimiser. Adam at 2e-5 with linear warm-up and cosine annealing.
6. Results. Macro F1 and accuracy beside the paper's Dev-F1 and Test-F1,
   confusion matrix and curves per row, one raw-input SavedModel per row.
"""

import sys

from memotion_tf.cli import main

if __name__ == "__main__":
    # The same as `memotion-tf reproduce cnhit [options]` (and `make reproduce-cnhit`).
    sys.exit(main(["reproduce", "cnhit", *sys.argv[1:]]))
