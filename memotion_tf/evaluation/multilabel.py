"""Multi-label metrics as MAMI scores them, and their plots (ROC curves,
per-label confusion matrices, autoencoder + classifier training curves).

Weighted F1 (`mami_weighted_f1`) is the official SemEval-2022 Task 5 subtask B
score, which the semi-supervised MAMI paper writes as

    F1-weighted = (1 / sum_i support_i) * sum_i F1-macro_i * support_i

over the labels i, where F1-macro_i averages the F1 of class 1 and class 0 of
label i and support_i is the number of gold positives of label i (the
official scorer's `gold.count(True)`). A class with no true and no predicted
member scores 0, as in the official scorer. With one label it is that label's
macro F1, the subtask A score.

AUC (`weighted_auc`): the paper says only "the area under the ROC curve"; for
several labels we weight each label's ROC AUC by its support, like the F1.
A label whose test gold is all one class has no ROC curve and is left out.
"""

import numpy as np
from sklearn.metrics import f1_score, multilabel_confusion_matrix, roc_auc_score, roc_curve


def _as_2d(y):
    y = np.asarray(y)
    return y.reshape(-1, 1) if y.ndim == 1 else y


def per_label_macro_f1(y_true, y_pred):
    y_true, y_pred = _as_2d(y_true), _as_2d(y_pred)
    return np.array([
        f1_score(y_true[:, i], y_pred[:, i], labels=[0, 1], average="macro", zero_division=0)
        for i in range(y_true.shape[1])
    ])


def mami_weighted_f1(y_true, y_pred):
    """The MAMI subtask B score (see the module docstring)."""
    y_true = _as_2d(y_true)
    support = y_true.sum(axis=0).astype("float64")
    f1 = per_label_macro_f1(y_true, y_pred)
    if support.sum() == 0:
        return float(f1.mean())
    return float((f1 * support).sum() / support.sum())


def weighted_auc(y_true, probabilities):
    """Support-weighted mean of the per-label ROC AUC (NaN if no label has both classes)."""
    y_true, probabilities = _as_2d(y_true), _as_2d(probabilities)
    aucs, weights = [], []
    for i in range(y_true.shape[1]):
        if len(np.unique(y_true[:, i])) < 2:
            continue
        aucs.append(roc_auc_score(y_true[:, i], probabilities[:, i]))
        weights.append(y_true[:, i].sum())
    if not aucs:
        return float("nan")
    return float(np.average(aucs, weights=weights))


def multilabel_metrics(y_true, probabilities, threshold=0.5):
    """{"weighted_f1", "auc"} from probabilities, labels predicted at `threshold`."""
    probabilities = _as_2d(probabilities)
    predicted = (probabilities >= threshold).astype(int)
    return {"weighted_f1": mami_weighted_f1(y_true, predicted), "auc": weighted_auc(y_true, probabilities)}


# --------------------------------------------------------------------------
# Plots.
# --------------------------------------------------------------------------


def plot_roc_curves(y_true, probabilities, label_names, title, path):
    """One ROC curve per label (labels with a single gold class are skipped)."""
    from memotion_tf.evaluation.plots import plt, save_figure

    y_true, probabilities = _as_2d(y_true), _as_2d(probabilities)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    for i, name in enumerate(label_names):
        if len(np.unique(y_true[:, i])) < 2:
            continue
        fpr, tpr, _ = roc_curve(y_true[:, i], probabilities[:, i])
        auc = roc_auc_score(y_true[:, i], probabilities[:, i])
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def plot_label_confusions(y_true, y_pred, label_names, title, path):
    """A 2x2 confusion matrix per label, side by side."""
    from sklearn.metrics import ConfusionMatrixDisplay

    from memotion_tf.evaluation.plots import plt, save_figure

    matrices = multilabel_confusion_matrix(_as_2d(y_true), _as_2d(y_pred), labels=list(range(len(label_names))))
    fig, axes = plt.subplots(1, len(label_names), figsize=(3.0 * len(label_names), 3.0), squeeze=False)
    for ax, matrix, name in zip(axes[0], matrices, label_names):
        ConfusionMatrixDisplay(matrix, display_labels=["0", "1"]).plot(
            ax=ax, cmap="Blues", colorbar=False, values_format="d")
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def _epoch_axis(ax, longest):
    """Whole-epoch ticks, so a 1-epoch run shows its point at 1."""
    from matplotlib.ticker import MaxNLocator

    longest = max(1, longest)
    if longest <= 20:
        ax.set_xticks(range(1, longest + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, longest + 0.5)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)


def plot_ssl_curves(ae_histories, classifier_histories, title, path):
    """Per epoch, one colour per run, markers on every point:
    CROM-AE reconstruction MSE (both autoencoders, train and validation; when
    the row uses its encoders), the classifier loss (train and validation),
    and the paper's metrics on the validation memes (weighted F1 solid, AUC
    dashed; the slides' Figures 22-23) when the history logs them."""
    from memotion_tf.evaluation.plots import plt, save_figure

    ae_histories = [h for h in ae_histories if h]
    with_metrics = any("val_weighted_f1" in h for h in classifier_histories)
    panels = (["CROM-AE reconstruction (MSE)"] if ae_histories else []) + ["classifier loss"]
    panels += ["validation weighted F1 / AUC"] if with_metrics else []
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    axes = list(axes[0])
    if ae_histories:
        ax = axes.pop(0)
        longest = 0
        for i, history in enumerate(ae_histories):
            for key, style in (("text_from_image_loss", "-"), ("image_from_text_loss", "-.")):
                values = history.get(key, [])
                longest = max(longest, len(values))
                epochs = range(1, len(values) + 1)
                name = "AE_image (F_image -> F_text)" if key.startswith("text") else "AE_text (F_text -> F_image)"
                ax.plot(epochs, values, color=f"C{i}", linestyle=style, marker="o", ms=3,
                        label=f"{name}, train (run {i})")
                if f"val_{key}" in history:
                    ax.plot(epochs, history[f"val_{key}"], color=f"C{i}", linestyle=style, marker="s", ms=3,
                            alpha=0.5, label=f"{name}, validation (run {i})")
        ax.set_ylabel("MSE")
        ax.set_title(panels[0], fontsize=9)
        _epoch_axis(ax, longest)
        ax.legend(fontsize=6)
    ax = axes.pop(0)
    longest = max((len(h.get("loss", [])) for h in classifier_histories), default=1)
    for i, history in enumerate(classifier_histories):
        epochs = range(1, len(history.get("loss", [])) + 1)
        ax.plot(epochs, history.get("loss", []), color=f"C{i}", marker="o", ms=3, label=f"train (run {i})")
        if "val_loss" in history:
            ax.plot(epochs, history["val_loss"], color=f"C{i}", linestyle="--", marker="s", ms=3,
                    label=f"validation (run {i})")
    ax.set_ylabel("loss")
    ax.set_title("classifier loss", fontsize=9)
    _epoch_axis(ax, longest)
    ax.legend(fontsize=7)
    if with_metrics:
        ax = axes.pop(0)
        for i, history in enumerate(classifier_histories):
            for key, style, marker, name in (("val_weighted_f1", "-", "o", "weighted F1"),
                                             ("val_auc", "--", "s", "AUC")):
                values = history.get(key, [])
                ax.plot(range(1, len(values) + 1), values, color=f"C{i}", linestyle=style, marker=marker, ms=3,
                        label=f"{name} (run {i})")
        ax.set_ylabel("validation score")
        ax.set_title(panels[-1], fontsize=9)
        _epoch_axis(ax, longest)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
