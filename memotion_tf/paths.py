"""Where memotion-tf finds its configs and keeps its data and runs.

- Configs live at the repository's top level (`configs/`) and ship inside the
  package as data (`memotion_tf/configs` is a link to them in a checkout and a
  copy in a built wheel), so an installed package finds them without the
  repository.
- Synthetic data sets and other caches go to `MEMOTION_TF_HOME` when it is set,
  else to the platform's user cache folder (`platformdirs`), e.g.
  `~/.cache/memotion-tf` on Linux: never under `site-packages`.
- Runs go to `./runs/<paper>` of the working folder unless `--out` says otherwise.
"""

import os

HOME_VARIABLE = "MEMOTION_TF_HOME"


def config_dir():
    """The folder holding `<paper>/<row>.toml` (package data)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def config_path(relative):
    """`relative` ("uor/lstm_t.toml") under `config_dir()`."""
    return os.path.join(config_dir(), relative)


def relative_config(path):
    """A config file's name relative to `config_dir()` ("uor/lstm_t.toml") when it
    lies there, else the path as given: what results.json records."""
    absolute = os.path.realpath(path)
    root = os.path.realpath(config_dir())
    if absolute.startswith(root + os.sep):
        return os.path.relpath(absolute, root)
    return os.fspath(path)


def home():
    """memotion-tf's cache folder: `$MEMOTION_TF_HOME`, else the user cache folder."""
    configured = os.environ.get(HOME_VARIABLE)
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    import platformdirs

    return platformdirs.user_cache_dir("memotion-tf", appauthor=False)


def synthetic_dir(dataset, key):
    """Where the embedded synthetic copy of `dataset` (sized by `key`) is written once."""
    return os.path.join(home(), "synthetic", f"{dataset}-{key}")


def default_out(paper):
    """`./runs/<paper>` of the working folder."""
    return os.path.join("runs", paper)
