"""The tool never deletes or overwrites what it did not write (issue 14, item 1):
folders carry a `.memotion-tf` marker, single files are recorded in their
folder's `.memotion-tf-files.json`.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_output_ownership.py -q
"""

import json
import os

import pytest

from memotion_tf import cli
from memotion_tf.datasets.danmu import write_synthetic_danmu
from memotion_tf.datasets.memotion7k import write_synthetic_memotion7k
from memotion_tf.io import (
    FILE_RECORD, MARKER, OutputError, atomic_output_dir, check_writable_dir, claim_output_dir, claim_output_file,
    owned_open, read_marker,
)


def _hidden(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith((".tmp", ".old")))


@pytest.mark.parametrize("dataset", ["memotion7k", "mami", "semeval21_task6", "danmu"])
def test_data_synth_keeps_a_folder_and_a_file_it_did_not_write(tmp_path, dataset, caplog):
    work = tmp_path / "work"
    work.mkdir()
    (work / "thesis.tex").write_text("two years of work")
    (tmp_path / "notes.txt").write_text("keep me")
    for out, message in ((work, "folder is not empty and was not written by memotion-tf"),
                         (tmp_path / "notes.txt", "exists and is not a folder")):
        assert cli.main(["data", "synth", "--dataset", dataset, "--out", str(out), "--size", "8"]) == 2
        assert f"{out}: {message}" in caplog.text
    assert (work / "thesis.tex").read_text() == "two years of work" and os.listdir(work) == ["thesis.tex"]
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert _hidden(tmp_path) == [] and _hidden(work) == []


def test_synth_replaces_its_own_folder_but_not_what_a_user_added(tmp_path):
    out = str(tmp_path / "d")
    write_synthetic_danmu(out, size=20, seed=1, form="raw")
    marker = read_marker(out)
    assert marker["entries"] == ["danmu.csv"] and marker["purpose"] == "synthetic danmu data set"
    write_synthetic_danmu(out, size=20, seed=2, form="processed")  # its own folder: replaced whole
    assert sorted(os.listdir(out)) == [MARKER, "test.csv", "train.csv", "val.csv"]
    (tmp_path / "d" / "my_notes.md").write_text("mine")
    with pytest.raises(OutputError, match="it now also holds my_notes.md, which memotion-tf did not write"):
        write_synthetic_danmu(out, size=20, seed=3)
    assert (tmp_path / "d" / "my_notes.md").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    write_synthetic_memotion7k(str(empty), size=8, seed=0)  # an empty folder holds nothing to lose
    assert os.path.isfile(empty / "labels.csv") and read_marker(empty) is not None
    assert _hidden(tmp_path) == []


def test_a_failed_synth_leaves_the_previous_folder(tmp_path):
    out = str(tmp_path / "d")
    write_synthetic_danmu(out, size=20, seed=1, form="raw")
    before = open(os.path.join(out, "danmu.csv")).read()
    with pytest.raises(RuntimeError):
        with atomic_output_dir(out) as tmp:
            open(os.path.join(tmp, "half.csv"), "w").write("x")
            raise RuntimeError("killed halfway")
    assert open(os.path.join(out, "danmu.csv")).read() == before and "half.csv" not in os.listdir(out)


def test_claim_output_dir(tmp_path):
    new = claim_output_dir(tmp_path / "runs" / "a", purpose="training run")
    assert read_marker(new)["purpose"] == "training run" and os.listdir(new) == [MARKER]
    (tmp_path / "runs" / "a" / "results.json").write_text("{}")
    assert claim_output_dir(new) == new  # its own folder, with what the run wrote
    (tmp_path / "empty").mkdir()
    assert claim_output_dir(tmp_path / "empty") == str(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "data.csv").write_text("x")
    (tmp_path / "full" / MARKER).write_text("not ours")  # a marker must say memotion-tf wrote it
    with pytest.raises(OutputError, match=r"full: folder is not empty and was not written by memotion-tf"):
        claim_output_dir(tmp_path / "full")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        claim_output_dir(tmp_path / "file")
    with pytest.raises(OutputError, match="cannot create the output folder"):
        claim_output_dir(tmp_path / "file" / "run")
    with pytest.raises(OutputError, match=r"/proc/self/run: cannot create the output folder"):
        claim_output_dir("/proc/self/run")
    with pytest.raises(OutputError, match=r"/proc: output folder is not writable"):
        check_writable_dir("/proc")  # root ignores permission bits: only a real write tells
    assert (tmp_path / "file").read_text() == "x" and sorted(os.listdir(tmp_path / "full")) == [MARKER, "data.csv"]


def test_single_output_files_are_recorded_and_only_those_replaced(tmp_path):
    path = str(tmp_path / "preds.csv")
    with owned_open(path, "w") as f:
        f.write("id,label\n1,a\n")
    record = json.load(open(tmp_path / FILE_RECORD))
    assert list(record["files"]) == ["preds.csv"] and len(record["files"]["preds.csv"]["sha256"]) == 1
    with owned_open(path, "w") as f:  # its own file, unchanged since: replaced
        f.write("id,label\n1,b\n")
    assert open(path).read() == "id,label\n1,b\n"
    with open(path, "a") as f:
        f.write("2,hand-edited\n")
    with pytest.raises(OutputError, match="was written by memotion-tf but has been changed since"):
        claim_output_file(path)
    (tmp_path / "other.csv").write_text("mine")
    with pytest.raises(OutputError, match=r"other\.csv: exists and was not written by memotion-tf"):
        with owned_open(str(tmp_path / "other.csv"), "w") as f:
            f.write("overwritten")
    assert (tmp_path / "other.csv").read_text() == "mine"
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(OutputError, match="not a regular file"):
        claim_output_file(str(tmp_path / "pipe.csv"))
    with pytest.raises(OutputError, match="not a usable name"):
        claim_output_file(str(tmp_path / FILE_RECORD))
    assert _hidden(tmp_path) == []


def test_a_write_killed_after_the_rename_leaves_a_file_the_record_accepts(tmp_path, monkeypatch):
    """The record names the new digest before the rename, so a kill between
    the rename and the record's last update does not lock the file out."""
    from memotion_tf import io as io_lib

    path = str(tmp_path / "preds.json")
    with owned_open(path, "w") as f:
        f.write("[1]")
    updates = []
    real = io_lib._update_record

    def crash_on_second(folder, name, digests):
        updates.append(digests)
        if len(updates) == 2:
            raise KeyboardInterrupt  # killed after the rename, before the record settles
        real(folder, name, digests)

    monkeypatch.setattr(io_lib, "_update_record", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        with owned_open(path, "w") as f:
            f.write("[2]")
    monkeypatch.undo()
    assert open(path).read() == "[2]" and claim_output_file(path) == path
