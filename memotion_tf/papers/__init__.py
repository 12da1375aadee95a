"""The five reproductions, one module each, looked up by name.

| name        | module                  | dataset           | configs              | pipeline               |
|-------------|-------------------------|-------------------|----------------------|------------------------|
| `uor`       | `papers/uor.py`         | `memotion7k`      | `configs/uor/`       | `pipelines/uor.py`      |
| `cnhit`     | `papers/cnhit.py`       | `memotion7k`      | `configs/cnhit/`     | `pipelines/cnhit.py`    |
| `1213li`    | `papers/team_1213li.py` | `semeval21_task6` | `configs/1213li/`    | `pipelines/1213li.py`   |
| `mami-ssl`  | `papers/mami_ssl.py`    | `mami`            | `configs/mami_ssl/`  | `pipelines/mami_ssl.py` |
| `bilimeme`  | `papers/bilimeme.py`    | `danmu`           | `configs/bilimeme/`  | `pipelines/bilimeme.py` |

Each module's docstring says where its data reader and models live.
"""

import difflib
import importlib

from memotion_tf.config import ConfigError

PAPERS = {
    "uor": ("memotion_tf.papers.uor", "UoR"),
    "cnhit": ("memotion_tf.papers.cnhit", "CNHIT"),
    "1213li": ("memotion_tf.papers.team_1213li", "Team1213Li"),
    "mami-ssl": ("memotion_tf.papers.mami_ssl", "MAMISSL"),
    "bilimeme": ("memotion_tf.papers.bilimeme", "BiliMemeNet"),
}


def get_paper(name):
    """The `Paper` registered as `name`; an unknown name is an error with a did-you-mean."""
    if name not in PAPERS:
        close = difflib.get_close_matches(str(name), list(PAPERS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown paper {name!r}{hint} Known: {', '.join(PAPERS)}")
    module, cls = PAPERS[name]
    return getattr(importlib.import_module(module), cls)()
