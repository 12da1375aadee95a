"""UoR at SemEval-2020 Task 8: Gaussian Mixture Modelling (GMM) Based Sampling
Approach for Multi-Modal Memotion Analysis. Liu, Osei-Brefo, Chen, Liang.
SemEval-2020, ACL Anthology 2020.semeval-1.159. Table 1 (Memotion task A).

Where everything is:
- data: `datasets/memotion7k.py` (reader + synthetic writer), split and training
  in `papers/memotion.py` (shared with CN-HIT-MI.T)
- models: `models/lstm_text.py`, `conv1d_text.py`, `cnn_image.py`, `cnn_lstm_fusion.py`
- GMM oversampling: `resampling/gmm.py`; tokenizer: `preprocessing/text.py`
- configs: `configs/uor/`; pipeline: `pipelines/uor.py`; notebook: `notebooks/uor.ipynb`
"""

from memotion_tf.papers.memotion import MemotionPaper


class UoR(MemotionPaper):
    name = "uor"
    title = "UoR at SemEval-2020 Task 8 (Liu et al., 2020), Table 1: Memotion task A"
    reference = ("Liu, Osei-Brefo, Chen, Liang. UoR at SemEval-2020 Task 8: Gaussian Mixture Modelling (GMM) "
                 "Based Sampling Approach for Multi-Modal Memotion Analysis. SemEval-2020, "
                 "ACL Anthology 2020.semeval-1.159")
    config_files = (
        "uor/lstm_t.toml", "uor/lstm_t_gmm.toml", "uor/conv1d_t.toml",
        "uor/conv1d_t_gmm.toml", "uor/cnn_i.toml", "uor/cnn_lstm_ti.toml",
    )
    paper_columns = (
        ("trial_macro_f1", "paper trial macro-F1 (avg)"),
        ("test_macro_f1", "paper test macro-F1"),
        ("valid_accuracy", "paper valid accuracy"),
    )
    metric_columns = (("macro_f1", "ours macro-F1"), ("accuracy", "ours accuracy"))
    notes = (
        "Ours: macro-F1 and accuracy on a stratified 20% hold-out of labels.csv. The paper's one like-for-like "
        "column is its 'Valid set' accuracy: a 20% hold-out made by Keras' validation_split (section 5.2); "
        "it selected models on the trial set, which, like the test set, is not part of the 7k download.",
        "Conv1D-T's layers and the fusion head's width are not given in the paper; see the configs' `notes`.",
    )
