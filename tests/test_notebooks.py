"""The notebooks under notebooks/: committed clean, and each one executed end to end.

    make test-notebooks    (= .venv/bin/python -m pytest -q -m notebooks --run-notebooks tests/test_notebooks.py)

Each notebook runs in a fresh kernel of this interpreter (so of the project's
.venv) whose working directory and PYTHONPATH are the repository root, so it
imports the checkout under test. Its parameters cell is replaced by the tiny
settings below (quick profile, the embedded synthetic data shrunk, one epoch),
and afterwards results.json and the predictions file are checked.
"""

import ast
import json
import math
import os
import sys

import nbformat
import pandas as pd
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")
PARAMETERS = ("PROFILE", "DATA_DIR", "OUT", "SEEDS", "SYSTEMS", "OVERRIDES")
CELL_TIMEOUT = 600  # seconds; a notebook here takes a few minutes in all

# Per notebook: its paper key and the tiny settings its parameters cell gets (OUT is added per test).
# The overrides are the ones the reproduction tests use, plus a smaller synthetic data set.
TINY = {
    "uor": ("uor", dict(SEEDS=1, SYSTEMS=["LSTM-T+GMM", "CNN-LSTM-TI"], OVERRIDES=[
        "synthetic_size=240", "epochs=1", "batch_size=16", "image_size=32", "max_length=24"])),
    "cnhit": ("cnhit", dict(SEEDS=1, SYSTEMS=["TFNet", "BERT+TSA+KL"], OVERRIDES=[
        "synthetic_size=240", "preset=", "epochs=1", "batch_size=32", "image_size=32", "max_length=16",
        "model_args.depth=50",
        "backbone_args={'num_layers': 1, 'hidden_dim': 16, 'intermediate_dim': 32}"])),
    "1213li": ("1213li", dict(SEEDS=None, SYSTEMS=["+ full att", "1213Li"], OVERRIDES=[
        "protocol.synthetic_sizes=[40, 10, 12]", "protocol.ensemble_size=2", "protocol.resplit_dev_size=8",
        "preset=", "image_size=64", "max_length=24", "epochs=1", "batch_size=8",
        "model_args.label_dim=16", "model_args.classifier_units=[16, 8]", "model_args.image_backbone=tiny",
        "protocol.tiny_backbone={'num_layers': 1, 'num_heads': 2, 'hidden_dim': 16, 'intermediate_dim': 32}"])),
    "mami_ssl": ("mami-ssl", dict(SEEDS=1, SYSTEMS=["Ours"], OVERRIDES=[
        "synthetic_size=80", "epochs=2", "image_size=16", "max_length=32", "batch_size=16",
        "protocol.crom_ae={'latent_dim': 8}", "protocol.ratios=[0.3]", "protocol.export_ratios=[0.3]"])),
    "bilimeme": ("bilimeme", dict(SEEDS=1, SYSTEMS=["Linear baseline", "Prompt tuning"], OVERRIDES=[
        "synthetic_size=1500", "epochs=1", "batch_size=32", "max_length=16", "model_args.num_layers=1"])),
}

# Appended to each notebook: which interpreter and which memotion_tf the kernel used.
WHERE = "import json, sys, memotion_tf\nprint(json.dumps([sys.executable, sys.prefix, memotion_tf.__file__]))"


def notebook_names():
    return sorted(n[:-len(".ipynb")] for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))


def read(name):
    return nbformat.read(os.path.join(NOTEBOOKS, f"{name}.ipynb"), as_version=4)


def parameters_cell(nb):
    return next(c for c in nb.cells if c.cell_type == "code")


def test_every_notebook_is_tested():
    assert notebook_names() == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_is_committed_clean(name):
    """Valid, without outputs (small, diffable), and its first code cell is the
    tagged parameters cell that sets exactly the names the test replaces."""
    nb = read(name)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip the outputs"
    cell = parameters_cell(nb)
    assert "parameters" in cell.metadata.get("tags", [])
    assigned = [t.id for node in ast.parse(cell.source).body for t in node.targets]
    assert assigned == list(PARAMETERS)


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernel spec that starts this very interpreter (not whatever `python3`
    kernel a Jupyter data folder happens to hold)."""
    folder = tmp_path_factory.mktemp("kernels")
    os.makedirs(folder / "memotion-tf")
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "memotion-tf (tests)", "language": "python"}
    (folder / "memotion-tf" / "kernel.json").write_text(json.dumps(spec))
    return str(folder)


def execute(nb, kernel_dir):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    manager = AsyncKernelManager(kernel_name="memotion-tf",
                                 kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernel_dir]))
    NotebookClient(nb, km=manager, timeout=CELL_TIMEOUT, resources={"metadata": {"path": ROOT}}).execute()


def check_results(path, paper, systems, seeds):
    """results.json as ../shared/CONTRACT.md says: the rows asked for, numeric metrics."""
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    assert {k: results[k] for k in ("paper", "synthetic", "profile")} == {
        "paper": paper, "synthetic": True, "profile": "quick"}
    assert list(dict.fromkeys(r["system"] for r in results["rows"])) == systems
    for row in results["rows"]:
        assert row["metrics"], row["system"]
        for metric, summary in row["metrics"].items():
            values = [summary[k] for k in ("mean", "std", "min", "max")] + summary["runs"]
            assert all(isinstance(v, float) and math.isfinite(v) for v in values), (row["system"], metric)
            assert summary["min"] <= summary["mean"] <= summary["max"]
            if seeds is not None:
                assert len(summary["runs"]) == seeds
    exported = [r["saved_model"] for r in results["rows"] if r.get("saved_model")]
    assert exported and all(os.path.exists(os.path.join(ROOT, p, "saved_model.pb")) for p in exported)


@pytest.mark.notebooks
@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_runs(name, kernel_dir, tmp_path, monkeypatch):
    paper, tiny = TINY[name]
    out = str(tmp_path / "out")
    parameters = dict(PROFILE="quick", DATA_DIR=None, OUT=out, **tiny)
    nb = read(name)
    parameters_cell(nb).source = "\n".join(f"{k} = {parameters[k]!r}" for k in PARAMETERS)
    nb.cells.append(nbformat.v4.new_code_cell(WHERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    try:
        execute(nb, kernel_dir)  # raises CellExecutionError, naming the cell, if any cell fails
    finally:
        nbformat.write(nb, str(tmp_path / f"{name}.executed.ipynb"))  # for a look after a failure

    executable, prefix, package = json.loads(nb.cells[-1].outputs[0]["text"])
    assert (executable, prefix) == (sys.executable, sys.prefix)
    assert os.path.samefile(package, os.path.join(ROOT, "memotion_tf", "__init__.py")), package
    check_results(os.path.join(out, "results.json"), paper, tiny["SYSTEMS"], tiny["SEEDS"])
    memes = pd.read_csv(os.path.join(out, "predict", "memes.csv"), dtype=str, keep_default_na=False)
    predictions = pd.read_csv(os.path.join(out, "predict", "predictions.csv"), dtype=str, keep_default_na=False)
    assert len(memes) >= 2 and predictions["id"].tolist() == memes["id"].tolist()
    assert (predictions["error"] == "").all()
    probabilities = predictions[[c for c in predictions.columns if c.startswith("p_")]].astype(float)
    assert probabilities.shape[1] >= 2 and ((probabilities >= 0) & (probabilities <= 1)).all().all()
