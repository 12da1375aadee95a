"""`predict`'s input and output policy (issue 14, items 1, 3 and 4): the input
file and the output are checked before any model is loaded, and every problem
with them is one DataError line; image paths stay inside the image root.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_predict_input.py -q
"""

import os
import pickle

import pytest

from memotion_tf import cli
from memotion_tf.datasets.common import DataError
from memotion_tf.io import OutputError
from memotion_tf.predict import MemeInput, predict_file, read_image, read_inputs


@pytest.mark.parametrize("content, message", [
    (b"", "empty file (0 bytes)"),
    (b"id,text,image\n", "no memes: the file holds only its header line"),
    (b"id,text\n1,caf\xe9\n", "not UTF-8 text"),
    (pickle.dumps([{"text": "x"}], protocol=4), "is a pickle"),
    (b"id,caption\n1,x\n", "needs a `text` and/or an `image` column"),
    (b'text,image\n"unclosed,x.png\n', "malformed CSV"),
    (b"\n\n", "no header line"),
])
def test_bad_input_files_are_one_named_error(tmp_path, content, message):
    path = tmp_path / "memes.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_inputs(str(path))
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.timeout(60)
def test_a_fifo_or_a_device_as_the_input_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "memes.csv")
    with pytest.raises(DataError, match="not a regular input file"):
        read_inputs(str(tmp_path / "memes.csv"))
    with pytest.raises(DataError, match="/dev/zero: not a regular input file"):
        read_inputs("/dev/zero")


def test_image_paths_resolve_inside_the_csv_folder_or_the_image_root(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"x")
    (tmp_path / "memes.csv").write_text(
        "id,text,image\n1,t,images/a.png\n2,t,../outside.png\n3,t,/etc/passwd\n4,t,\n")
    rows = read_inputs(str(tmp_path / "memes.csv"))
    assert rows[0] == MemeInput("1", "t", str(tmp_path / "images" / "a.png"), "")
    assert rows[1].image == "" and rows[1].error == "image path refused: file name '../outside.png' escapes " \
        f"{tmp_path}"
    assert rows[2].error == "image path refused: absolute path '/etc/passwd' is not allowed"
    assert rows[3] == MemeInput("4", "t", "", "")  # no image given: the model decides whether it needs one
    (tmp_path / "other.csv").write_text("text,image\nt,a.png\n")
    rows = read_inputs(str(tmp_path / "other.csv"), image_root=str(tmp_path / "images"))
    assert rows == [MemeInput("1", "t", str(tmp_path / "images" / "a.png"), "")]
    with pytest.raises(DataError, match="image root is not a folder"):
        read_inputs(str(tmp_path / "other.csv"), image_root=str(tmp_path / "nowhere"))


def test_a_link_out_of_the_input_folder_is_refused(tmp_path):
    folder = tmp_path / "memes"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    os.symlink("/dev/zero", folder / "zero.jpg")
    rows = read_inputs(str(folder))
    assert [r.id for r in rows] == ["a.jpg", "zero.jpg"]
    assert rows[0].error == "" and rows[1].error.startswith("image path refused: file name 'zero.jpg' escapes")


@pytest.mark.timeout(60)
def test_reading_an_image_never_blocks_on_a_fifo_or_reads_a_device(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    data, error = read_image(str(tmp_path / "pipe.png"))
    assert data == b"" and error == f"image file is not a regular file (a FIFO, socket or device): {tmp_path}/pipe.png"
    data, error = read_image("/dev/zero")
    assert data == b"" and error == "image file is not a regular file (a FIFO, socket or device): /dev/zero"
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\x00" * 5000)
    data, error = read_image(str(tmp_path / "big.png"), max_bytes=1000)
    assert error == f"image: too large: a file of 5,004 bytes, over the limit of 1,000: {tmp_path}/big.png"


def test_the_output_is_checked_before_any_model_is_loaded(tmp_path, monkeypatch):
    """`predict_file` refuses a bad output before reading the input or loading
    the model: the SavedModel path here does not exist, so reaching it would
    be a different error."""
    from memotion_tf import predict

    monkeypatch.setattr(predict, "Predictor", lambda *a, **k: pytest.fail("the model was loaded"))
    (tmp_path / "memes.csv").write_text("text\nhello\n")
    (tmp_path / "thesis.tex").write_text("precious")
    cases = {
        str(tmp_path / "thesis.tex"): "exists and was not written by memotion-tf",
        str(tmp_path / "thesis.tex" / "preds.csv"): "cannot create the output folder",
        str(tmp_path): "is a folder; give a file name",
        "/proc/preds.csv": "output folder is not writable",
    }
    for output, message in cases.items():
        with pytest.raises(OutputError, match=message):
            predict_file(str(tmp_path / "no_model"), str(tmp_path / "memes.csv"), output)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_cli_predict_refuses_a_foreign_output_with_exit_code_2(tmp_path, caplog, capsys):
    (tmp_path / "memes.csv").write_text("text\nhello\n")
    (tmp_path / "preds.csv").write_text("someone's spreadsheet")
    assert cli.main(["predict", "--saved-model", str(tmp_path / "no_model"), "--input", str(tmp_path / "memes.csv"),
                     "--output", str(tmp_path / "preds.csv")]) == 2
    assert f"{tmp_path / 'preds.csv'}: exists and was not written by memotion-tf" in caplog.text
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "preds.csv").read_text() == "someone's spreadsheet"
