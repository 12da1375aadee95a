"""The README is the user's manual: what it promises is checked here."""

import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def _section(text, title):
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start:end if end >= 0 else None]


def _test_functions():
    names = set()
    for name in os.listdir(os.path.join(ROOT, "tests")):
        if name.startswith("test_") and name.endswith(".py"):
            with open(os.path.join(ROOT, "tests", name), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return names


def test_every_row_of_the_bad_input_table_names_tests_that_exist():
    table = [line for line in _section(_readme(), "## What bad input gets").splitlines() if line.startswith("| ")]
    rows = [line for line in table[2:]]  # after the header and its rule
    assert len(rows) >= 20
    known = _test_functions()
    for row in rows:
        cited = set(re.findall(r"test_\w+", row.split("|")[-2]))
        cited = {name for name in cited if not name.endswith("_py")}
        files = set(re.findall(r"tests/(test_\w+)\.py", row))
        functions = cited - files
        # "same test(s)": the row above names them.
        assert functions or files or "same test" in row.split("|")[-2], f"no test named in: {row[:80]}"
        for name in functions:
            assert name in known, f"README names a test that does not exist: {name}"
        for name in files:
            assert os.path.exists(os.path.join(ROOT, "tests", name + ".py")), name


def test_the_readme_stands_alone_and_every_paper_has_a_measured_table():
    text = _readme()
    assert "not measured yet" not in text and "@@" not in text
    assert "shared/" not in text and "OWNER" not in text
    setup = text.index("```bash")
    assert text[setup:].splitlines()[1].startswith("make reproduce-uor") and "make test" in text[setup:].splitlines()[2]
    for paper in ("UoR", "CN-HIT-MI.T", "BiliMemeNet", "1213Li", "Semi-supervised MAMI"):
        assert re.search(rf"^### {re.escape(paper)}", text, re.M), paper
