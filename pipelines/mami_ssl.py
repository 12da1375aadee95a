"""
Title: Semi-supervised MAMI — CLIP features, CROM-AE, RAW-N-COOK and the distribution-balanced loss
Paper: Pham Thai Hoang Tung, Nguyen Tan Viet, Ngo Tien Anh (supervisor Phan Duy Hung),
"Multimodal Semi-supervised Learning for Sentiment Analysis of Image Macros" (slides)
Command: memotion-tf reproduce mami-ssl [--profile quick|paper] [--data-dir path/to/MAMI] [--out dir]
         [--seeds n]  (= make reproduce-mami-ssl [PROFILE=...] [DATA_DIR=...] [OUT=...] [SEEDS=...])
Python:  memotion_tf.reproduce("mami-ssl", data_dir=..., out=...)  (`memotion_tf.papers.mami_ssl.MAMISSL`)
Expected time: PROFILE=quick about 5-10 minutes on an idle 2-core CPU (longer when the CPU is
shared) with the embedded synthetic data and a small random CLIP; PROFILE=paper extracts
ViT-L/14 features of 11,000 memes once (a GPU advised), then trains 5 systems x 3 ratios x 3 runs
on cached features.

What this reproduces: Tables 3 and 4 (weighted F1 and ROC AUC on the MAMI test set, subtask B,
for label ratios 0.3, 0.1 and 0.05), the Table 5 ablation, and a supervised CLIP-features
baseline. The paper's other baselines (CMML, TIB-VA, VisualBERT, ...) are printed from the paper;
trivial baselines (every label's training prevalence, the per-label majority, every label) are
scored on the same test set by the same metric code.

| row                               | CROM-AE encoders | loss     |
|-----------------------------------|------------------|----------|
| Ours                              | yes              | DB focal |
| w/o CROM-AE encoders              |                  | DB focal |
| w/o DB loss                       | yes              | BCE      |
| w/o DB loss + CROM-AE encoders    |                  | BCE      |
| Supervised CLIP features (linear) |                  | BCE      |

The steps, each a function of `memotion_tf`:

1. Data. `TRAINING/training.csv` and `test/Test.csv` + `test_labels.txt` are read (text cleaned
   as the paper does: URLs, non-ASCII and punctuation removed, lower case), every image is
   decoded once, and TRAINING is split 8,000 / 2,000 (80/20, seeded).
2. CLIP features. keras-hub's CLIP embeds every meme's image and text once (projected,
   L2-normalised embeddings); the arrays are cached under the user cache
   (`$MEMOTION_TF_HOME/features/mami-ssl/`), keyed by the model (weights digest), the data (file
   sizes and times, texts) and the split, so a second run, in any OUT, reads them in seconds.
3. CROM-AE. Two autoencoders (Linear, PReLU, Linear) map F_image to F_text and F_text to F_image
   with MSE, trained on every training meme, labels unused: once per seed, kept under
   `<out>/CROM-AE/seed_<k>/` and shared by every row and ratio that uses its encoders.
4. RAW-N-COOK. An MLP on [raw CLIP features; the encoders' latent features], trained on the
   labelled subset (ratio 0.3 / 0.1 / 0.05 of the 8,000 train memes: 2,400 / 800 / 400) with the
   distribution-balanced focal loss, Adam 1e-4, batch 40, 50 epochs, StepLR gamma 0.85 / 0.9 /
   0.93; validation weighted F1 and AUC logged every epoch (history, TensorBoard).
5. Results. Weighted F1 and AUC on test over the runs (mean, std, min, max) beside the paper's
   numbers in `results.md`; per row and ratio (`<out>/<system>_ratio-<r>/`) a SavedModel that takes
   raw text and image bytes (CLIP, encoders and classifier inside), ROC curves, per-label
   confusion matrices and training curves (CROM-AE reconstruction, classifier loss, validation
   weighted F1 and AUC); `summary.png` plots ours against the ratio.
   The SavedModels tokenise with a TensorFlow Text op: `import tensorflow_text` before loading.
"""

import sys

from memotion_tf.cli import main

if __name__ == "__main__":
    # The same as `memotion-tf reproduce mami-ssl [options]` (and `make reproduce-mami-ssl`).
    sys.exit(main(["reproduce", "mami-ssl", *sys.argv[1:]]))
