"""Confusion-matrix and training-curve PNGs, and `save_figure`, which every
plot of the project goes through (a PNG written atomically)."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from memotion_tf.io import atomic_write_bytes  # noqa: E402


def save_figure(fig, path):
    """Write `fig` as a PNG at `path`, atomically, and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def plot_confusion(matrix, class_names, title, path, xticks_rotation=0):
    """Counts per (true, predicted) class; `xticks_rotation` slants long class names."""
    fig, ax = plt.subplots(figsize=(5.4, 4.8) if xticks_rotation else (4.6, 4.0))
    ConfusionMatrixDisplay(matrix, display_labels=list(class_names)).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d", xticks_rotation=xticks_rotation
    )
    if xticks_rotation:
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.set_title(title, fontsize=9 if xticks_rotation else 10)
    save_figure(fig, path)


def plot_confusions(matrices, titles, class_names, title, path):
    """One confusion matrix per label side by side (Memotion tasks B and C)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.6 * len(matrices), 3.6), squeeze=False)
    for ax, matrix, name, names in zip(axes[0], matrices, titles, class_names):
        ConfusionMatrixDisplay(matrix, display_labels=list(names)).plot(
            ax=ax, cmap="Blues", colorbar=False, values_format="d", xticks_rotation=35)
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor", fontsize=7)
        plt.setp(ax.get_yticklabels(), fontsize=7)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


METRIC_LABELS = {"macro_f1": "macro F1", "micro_f1": "micro F1", "weighted_f1": "weighted F1", "auc": "AUC",
                 "accuracy": "accuracy", "acc_at_1": "Acc@1", "acc_at_3": "Acc@3"}


def plot_curves(histories, title, path, metric="accuracy", metric_label=None, run_label="run"):
    """The loss and the paper's `metric` per epoch, training (solid) and
    validation (dashed), one colour per run; whole-epoch ticks and markers,
    so a 1-epoch run shows its points. A metric logged only on validation
    (e.g. `val_micro_f1`) is drawn alone."""
    from matplotlib.ticker import MaxNLocator

    panels = [("loss", "loss"), (metric, metric_label or METRIC_LABELS.get(metric, metric.replace("_", " ")))]
    panels = [(k, label) for k, label in panels if any(k in h or f"val_{k}" in h for h in histories)]
    if not panels:
        panels = [("loss", "loss")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for i, history in enumerate(histories):
            for name, style, marker, part in ((key, "-", "o", "train"), (f"val_{key}", "--", "s", "validation")):
                values = history.get(name, [])
                if values:
                    ax.plot(range(1, len(values) + 1), values, color=f"C{i}", linestyle=style, marker=marker,
                            ms=4, label=f"{part} ({run_label} {i})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        longest = max(1, max((len(h.get(key, h.get(f"val_{key}", []))) for h in histories), default=1))
        if longest <= 20:
            ax.set_xticks(range(1, longest + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, longest + 0.5)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
