"""CN-HIT-MI.T at SemEval-2020 Task 8: Memotion Analysis Based on BERT.
Li, Zhang, Xu, Zhao. SemEval-2020, ACL Anthology 2020.semeval-1.145.
Table 2 (Memotion task A).

Where everything is:
- data: `datasets/memotion7k.py`, split and training in `papers/memotion.py`
  (shared with UoR); text cleaning: `preprocessing/cleaning.py`
- models: `models/bert_classifier.py`, `resnet.py`, `tensor_fusion.py`, `hfm.py`
- losses: `losses/tsa.py` (TSA), `losses/consistency.py` (clean/raw KL);
  RandAugment: `preprocessing/randaugment.py`
- configs: `configs/cnhit/`; pipeline: `pipelines/cnhit.py`; notebook: `notebooks/cnhit.ipynb`
"""

from memotion_tf.papers.memotion import MemotionPaper


class CNHIT(MemotionPaper):
    name = "cnhit"
    title = "CN-HIT-MI.T at SemEval-2020 Task 8 (Li et al., 2020), Table 2: Memotion task A"
    reference = ("Li, Zhang, Xu, Zhao. CN-HIT-MI.T at SemEval-2020 Task 8: Memotion Analysis Based on BERT. "
                 "SemEval-2020, ACL Anthology 2020.semeval-1.145")
    config_files = (
        "cnhit/hfm.toml", "cnhit/tfnet.toml", "cnhit/tfnet_tsa.toml", "cnhit/resnet.toml",
        "cnhit/bert.toml", "cnhit/resnet_tsa_ra.toml", "cnhit/bert_tsa_kl.toml",
    )
    paper_columns = (("dev_macro_f1", "paper Dev-F1"), ("test_macro_f1", "paper Test-F1"))
    notes = (
        "Ours: macro-F1 and accuracy on the dev split of one stratified 4:1 hold-out of labels.csv, as "
        "sections 4.1 and 5 describe (with `folds=5`: the dev fold of run i is fold i), with the raw text; "
        "the paper's Test-F1 is on the official test set, which is not part of the 7k download.",
        "Text rows train on cleaned text (section 4.2). Row names follow Table 2; "
        "`BERT+TSA+KL` is the paper's `BERT+TSA+KL+200`.",
    )
