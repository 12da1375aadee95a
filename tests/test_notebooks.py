"""The notebooks under notebooks/: committed clean, and each one executed end to end.

    make test-notebooks    (= .venv/bin/python -m pytest -q -n $(TEST_WORKERS) --dist load -m notebooks --run-notebooks tests/test_notebooks.py)

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


def execute(nb, kernel_dir, cwd=ROOT):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    manager = AsyncKernelManager(kernel_name="memotion-tf",
                                 kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernel_dir]))
    NotebookClient(nb, km=manager, timeout=CELL_TIMEOUT, resources={"metadata": {"path": cwd}}).execute()


def install_cell(nb):
    return next(c for c in nb.cells if c.cell_type == "code" and "INSTALL_FROM" in c.source)


def test_every_notebook_has_the_same_install_cell():
    """One install cell (a Colab form field), the same in every notebook, with no placeholder to edit."""
    cells = {name: install_cell(read(name)).source for name in sorted(TINY)}
    assert len(set(cells.values())) == 1, "the install cells differ"
    source = next(iter(cells.values()))
    assert '#@param {type:"string"}' in source and "OWNER" not in source
    for name in TINY:
        assert "OWNER" not in json.dumps(read(name))


# Simulating Colab: the kernel sees a `google.colab` module (with a `drive` that records mounts).
FAKE_COLAB = """import sys, types
import google  # the real namespace package (protobuf lives in it); Colab's module goes inside
colab = types.ModuleType("google.colab"); drive = types.ModuleType("google.colab.drive")
drive.mounted = []
drive.mount = lambda path: drive.mounted.append(path)
colab.drive = drive; google.colab = colab
sys.modules.update({"google.colab": colab, "google.colab.drive": drive})"""


@pytest.fixture(scope="module")
def colab_kernel_dir(tmp_path_factory):
    """A kernel in a fresh virtualenv that sees this .venv's packages (as Colab has TensorFlow and
    the rest preinstalled) but not memotion_tf: the install cell has to install it."""
    import site
    import subprocess
    import venv

    folder = tmp_path_factory.mktemp("colab")
    env_dir = folder / "venv"
    venv.create(str(env_dir), with_pip=True)
    python = str(env_dir / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    # The project's libraries as plain path entries: their own .pth files (the checkout's editable
    # memotion_tf among them) are not run, so `import memotion_tf` needs the install cell.
    with open(os.path.join(purelib, "preinstalled.pth"), "w") as f:
        f.write("\n".join(ours) + "\n")
    probe = subprocess.run([python, "-c", "import tensorflow, keras_hub; import memotion_tf"], capture_output=True,
                           text=True, cwd=str(folder))
    assert "No module named 'memotion_tf'" in probe.stderr, probe.stderr[-500:]
    kernels = folder / "kernels"
    os.makedirs(kernels / "memotion-tf")
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "simulated Colab", "language": "python"}
    (kernels / "memotion-tf" / "kernel.json").write_text(json.dumps(spec))
    return str(kernels), str(env_dir)


def _colab_notebook(name, out, install_from):
    paper, tiny = TINY[name]
    parameters = dict(PROFILE="quick", DATA_DIR=None, OUT=out, **tiny)
    nb = read(name)
    parameters_cell(nb).source = FAKE_COLAB + "\n" + "\n".join(f"{k} = {parameters[k]!r}" for k in PARAMETERS)
    cell = install_cell(nb)
    cell.source = cell.source.replace('INSTALL_FROM = ""', f"INSTALL_FROM = {install_from!r}")
    return paper, tiny, nb


@pytest.mark.notebooks
def test_colab_install_cell_says_what_to_enter_when_empty(colab_kernel_dir, tmp_path):
    from nbclient.exceptions import CellExecutionError

    kernels, _ = colab_kernel_dir
    _, _, nb = _colab_notebook("uor", str(tmp_path / "out"), "")
    with pytest.raises(CellExecutionError, match="INSTALL_FROM is empty: enter the memotion-tf repository's git URL"):
        execute(nb, kernels, cwd=str(tmp_path))


@pytest.mark.notebooks
def test_uor_notebook_on_simulated_colab_installs_from_a_git_url(colab_kernel_dir, tmp_path, monkeypatch):
    """The Colab branch end to end: the form field holds a git URL (here the checkout's own
    repository), the cell pip-installs from it, and the notebook runs on the installed package."""
    kernels, env_dir = colab_kernel_dir
    out = str(tmp_path / "out")
    paper, tiny, nb = _colab_notebook("uor", out, f"git+file://{ROOT}")
    nb.cells.append(nbformat.v4.new_code_cell(WHERE))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    work = tmp_path / "content"
    work.mkdir()
    try:
        execute(nb, kernels, cwd=str(work))
    finally:
        nbformat.write(nb, str(tmp_path / "uor.colab.ipynb"))
    executable, prefix, package = json.loads(nb.cells[-1].outputs[0]["text"])
    assert prefix == env_dir and package.startswith(env_dir), package  # the installed copy, not the checkout
    check_results(os.path.join(out, "results.json"), paper, tiny["SYSTEMS"], tiny["SEEDS"], root=out)


def check_results(path, paper, systems, seeds, root=None):
    """results.json as the contract says: the rows asked for, numeric metrics."""
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
    root = root or os.path.dirname(path)  # SavedModel paths are relative to OUT
    assert exported and all(os.path.exists(os.path.join(root, p, "saved_model.pb")) for p in exported)


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
