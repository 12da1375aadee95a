"""
Title: 1213Li at SemEval-2021 Task 6 — label attention over RoBERTa tokens and ResNet-50 regions
Paper: Li, Li, Sun, "1213Li at SemEval-2021 Task 6: Detection of Propaganda with Multi-modal Attention and Pre-trained Models", SemEval-2021, ACL Anthology 2021.semeval-1.142
Command: make reproduce-1213li [PROFILE=quick|paper] [DATA_DIR=path/to/corpus] [OUT=dir] [SEEDS=n]
         (the same: memotion-tf reproduce 1213li [...], or memotion_tf.reproduce("1213li", ...))
Expected time: PROFILE=quick about 20 minutes on an idle 2-core CPU (MiniLM for RoBERTa, a random-init
frozen ResNet-50, 6 epochs; longer when the CPU is shared; a second run reuses the cached image
features); PROFILE=paper fine-tunes RoBERTa-base 8 times (4 rows + 4 more ensemble members) for
20 epochs each, best on a GPU.

What this reproduces: SemEval-2021 Task 6 subtask 3 (22 persuasion techniques in memes,
multi-label), Table 1 (ablation on the dev set) and Table 2 (the ensemble on the test set,
printed beside the official leaderboard), each with the "k most frequent techniques" baselines:

| row               | T_avg, V_avg | textual attention | visual attention |
|-------------------|--------------|-------------------|------------------|
| RoBERTa+ResNet-50 | yes          |                   |                  |
| + visual att      | yes          |                   | yes              |
| + textual att     | yes          | yes               |                  |
| + full att        | yes          | yes               | yes              |
| 1213Li (Table 2)  | five "+ full att" models, probabilities averaged               |

The steps, each a function of `memotion_tf` (`memotion_tf/papers/team_1213li.py` on the one runner):

1. Data. The three split files (JSON arrays of {id, labels, text, image}) are read, every
   technique name is checked exactly, and every image is decoded once by content (some `.png`
   files are JPEG); memes with an unreadable image are reported, kept out of training, and get
   no technique where they are scored. Without DATA_DIR a synthetic corpus in the same layout
   (687/63/200 memes) is written once under the user cache.
2. Text. The sentences stay joined by "\\n\\n" and go through the backbone's own tokenizer
   (RoBERTa-base for PROFILE=paper, the offline all-MiniLM-L6-v2 BERT for quick).
3. Image. Each meme's centred square is resized to 224 x 224 (section 3.2.1 crops; the same crop
   runs inside the exported models) and a frozen ResNet-50 turns it into 49 x 2048 region
   features, once per image (frozen and not augmented, so they never change; cached on disk).
4. Fusion (eq. 2-7): masked averages T_avg, V_avg; per-label dot-product attention over tokens
   and regions with 256-d label embeddings; R_i = [T_avg; V_avg; T_i,att; V_i,att]; a shared
   3-layer classifier gives one sigmoid per technique. BCE, Adam 1e-4, batch 64 (paper).
5. Each row logs dev micro/macro F1 every epoch (history, TensorBoard), keeps the epoch with the
   best dev micro F1 and is scored on dev (Table 1, macro F1 by the task's scorer and with
   zero_division=0, which the paper's Table 1 used). The ensemble trains four more "+ full att"
   models with 64 random memes of train+dev as dev, averages the five models' test
   probabilities, applies the 0.5 threshold, writes the official predictions file
   (`[{id, labels}]`, every test meme), checks its format and scores it (Table 2).
6. Results: results.json / results.md, training curves and per-technique F1 bars per row,
   one SavedModel per row and one for the ensemble (raw text + image bytes -> 22 probabilities).
"""

import sys

from memotion_tf.cli import main

if __name__ == "__main__":
    # The same as `memotion-tf reproduce 1213li [options]` (and `make reproduce-1213li`).
    sys.exit(main(["reproduce", "1213li", *sys.argv[1:]]))
