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


def plot_curves(histories, title, path):
    """Loss and accuracy per epoch, train and validation, one line per seed."""
    metrics = [m for m in ("loss", "accuracy") if any(m in h for h in histories)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, history in enumerate(histories):
            epochs = range(1, len(history.get(metric, [])) + 1)
            ax.plot(epochs, history.get(metric, []), color=f"C{i}", label=f"train (run {i})")
            if f"val_{metric}" in history:
                ax.plot(epochs, history[f"val_{metric}"], color=f"C{i}", linestyle="--",
                        label=f"validation (run {i})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
