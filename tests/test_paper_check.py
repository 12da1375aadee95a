"""`make paper-check`: its machinery on one small row, and the paper rows' sizes.

UoR's rows are small: they are built at full size (the paper profile's config,
`papers.memotion.make_model`) and their parameter counts are checked against
counts worked out by hand from the paper's layer sizes (section 4). The
pretrained-backbone rows' counts are pinned from their offline architectures
under `memory.abstract_build` (no weights allocated); they take tens of
seconds to build, so they are `large`.
"""

import os

import pytest

from memotion_tf import paper_check
from memotion_tf.config import load_config
from memotion_tf.training import memory

VOCABULARY = [f"word{i}" for i in range(998)]  # 1,000 ids with padding and OOV


def _vectorizer(sequence_length):
    from memotion_tf.preprocessing.text import SequenceVectorizer

    return SequenceVectorizer(sequence_length=sequence_length, vocabulary=VOCABULARY)


def _lstm(inputs, units):
    return 4 * (units * (inputs + units) + units)  # four gates: input and recurrent kernels, bias


def _dense(inputs, units):
    return inputs * units + units


def _conv(kernel, channels, filters):
    return kernel * channels * filters + filters


# UoR section 4: 100-d embedding, LSTM 128, Conv1D 128 x 5, CNN 32/64/128 (3x3,
# 2x2 pooling: 128 px -> 16 x 16 x 128 flattened), 3 classes.
UOR_IMAGE = _conv(9, 3, 32) + _conv(9, 32, 64) + _conv(9, 64, 128)
UOR_ROWS = {
    "lstm_t.toml": lambda v: 100 * v + _lstm(100, 128) + _dense(128, 32) + _dense(32, 3),
    "conv1d_t.toml": lambda v: 100 * v + _conv(5, 100, 128) + _dense(128, 32) + _dense(32, 3),
    "cnn_i.toml": lambda v: UOR_IMAGE + _dense(16 * 16 * 128, 128) + _dense(128, 3),
    "cnn_lstm_ti.toml": lambda v: (100 * v + _lstm(100, 128) + _dense(128, 128) + UOR_IMAGE
                                   + _dense(16 * 16 * 128, 128) + _dense(256, 64) + _dense(64, 3)),
}


@pytest.mark.parametrize("row", sorted(UOR_ROWS))
def test_uor_rows_at_full_size_have_the_papers_parameter_counts(row):
    from memotion_tf.papers.memotion import make_model

    config = load_config(os.path.join("configs", "uor", row), profile="paper")
    vectorizer = _vectorizer(config.max_length)
    with memory.abstract_build():
        model = make_model(config, 3, vectorizer)
    assert model.count_params() == UOR_ROWS[row](vectorizer.vocabulary_size)


# The pretrained-backbone rows: BERT-base (109,482,240, pinned in
# test_paper_architectures.py) and a softmax head on its pooled output; the
# fusion rows pinned as `make paper-check` built them (3 Memotion classes).
BERT_BASE = 109_482_240
CNHIT_ROWS = {
    "bert.toml": BERT_BASE + _dense(768, 3),
    "bert_tsa_kl.toml": BERT_BASE + _dense(768, 3),
    "hfm.toml": 156_088_227,
    "tfnet.toml": 152_387_011,
}


@pytest.mark.large
@pytest.mark.parametrize("row", sorted(CNHIT_ROWS))
def test_cnhit_rows_at_full_size(row):
    from memotion_tf.models import MODELS
    from memotion_tf.papers.memotion import make_model, text_preprocessing

    config = load_config(os.path.join("configs", "cnhit", row), profile="paper",
                         overrides=["random_init=true", "image_weights="])
    vectorizer = text_preprocessing(config, MODELS[config.model], ["a meme"])
    with memory.abstract_build():
        model = make_model(config, 3, vectorizer)
    assert model.count_params() == CNHIT_ROWS[row]


@pytest.mark.large
def test_bilimeme_chinese_bert_row_at_full_size():
    from memotion_tf.models.chinese_bert import chinese_bert_classifier

    config = load_config(os.path.join("configs", "bilimeme", "chinese_bert.toml"), profile="paper")
    with memory.abstract_build():
        model = chinese_bert_classifier(6, config.preset, random_init=True, **config.model_args)
    assert model.count_params() == 102_267_648 + _dense(768, 6)  # bert-base-chinese + 6 categories


def test_paper_check_runs_a_row_through_the_runner(tmp_path, caplog):
    """UoR's Conv1D-T at its paper size through `check_paper`: one epoch on a
    tiny synthetic copy, the SavedModel reloaded and called, and the memory
    estimate against a device too small for the paper's batch of 32, which
    then needs accumulation steps that divide it."""
    capacity_gb = 0.004  # 4 MiB: the batch's activations alone need more
    caplog.set_level("INFO", logger="memotion_tf")
    report = paper_check.check_paper("uor", str(tmp_path), systems=["Conv1D-T"], overrides=["max_length=64"],
                                     capacity_gb=capacity_gb)
    (row,) = report["rows"]
    assert row["system"] == "Conv1D-T" and row["batch_size"] == 32
    vocabulary = (row["trained_params"] - (_conv(5, 100, 128) + _dense(128, 32) + _dense(32, 3))) / 100
    assert vocabulary == int(vocabulary) > 2  # the embedding is all that depends on the data
    # The SavedModel holds the trained weights (and the vectoriser's few variables).
    assert row["trained_params"] <= row["saved_model_params"] < row["trained_params"] + 10
    assert row["memory_bytes"] > 4 * row["trained_params"] * 4  # weights, gradients, 2 Adam moments
    assert row["fits_gpu"] is False
    steps = row["accumulation_steps"]
    assert steps > 1 and 32 % steps == 0
    table = paper_check.table([report], capacity_gb)
    assert "| uor | Conv1D-T |" in table and f"| {steps} |" in table
    # The runner named the devices, and the paper profile on a CPU warned once, naming the CUDA extra.
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("training on CPU only") for m in messages)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "GPU" in r.getMessage()]
    assert len(warnings) == 1 and 'pip install "memotion-tf[and-cuda]"' in warnings[0]
    # The check's feature caches stayed in its own folder.
    assert os.environ.get("MEMOTION_TF_HOME") != os.path.join(str(tmp_path), "home")


def test_call_saved_model_refuses_a_folder_that_is_not_one(tmp_path):
    with pytest.raises(OSError):
        paper_check.call_saved_model(str(tmp_path))


def test_each_row_runs_in_its_own_process_and_the_rows_share_one_out(capsys):
    """Two UoR rows, each in a child process over the same tiny data and OUT:
    both checked (trained, exported, reloaded) and in the table, each with
    its own process's peak memory."""
    code = paper_check.main(["--paper", "uor", "--systems", "LSTM-T", "Conv1D-T", "--set", "max_length=32"])
    printed = capsys.readouterr().out
    assert code == 0
    lines = [line for line in printed.splitlines() if line.startswith("| uor |")]
    assert [line.split(" | ")[1] for line in lines] == ["LSTM-T", "Conv1D-T"]
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[7] == "loaded, called" and 0.1 < float(cells[8]) < 8  # GiB of one small row's process
    assert "paper-check:" in printed and "FAILED" not in printed


def test_two_rows_run_side_by_side_only_where_their_measured_memory_fits():
    """The scheduler: a paper's rows one after another; a second paper's row
    beside a running one only when both measured peaks (with the margin) fit
    the budget; the paper with the most time left first; an unmeasured row
    alone."""
    budget = 21.0  # a 24 GiB machine less the reserve
    queues = {"cnhit": [(6, "BERT+TSA+KL")], "bilimeme": [(6, "Prompt tuning")], "uor": [(0, "LSTM-T")]}
    left = {"cnhit": 100, "bilimeme": 200, "uor": 10}.get
    # Nothing running: the most time left starts, whatever its memory.
    assert paper_check.pick_next(queues, set(), 0.0, budget, left) == "bilimeme"
    # Prompt tuning (15.1 GiB) running: BERT+TSA+KL (7.0) does not fit beside it, UoR's row does.
    used = paper_check.row_peak_gib("bilimeme", "Prompt tuning", budget)
    assert paper_check.pick_next(queues, {"bilimeme"}, used, budget, left) == "uor"
    # A paper already running never starts its next row beside the running one.
    assert paper_check.pick_next({"uor": [(1, "Conv1D-T")]}, {"uor"}, 1.0, budget, left) is None
    # A row never measured takes the whole budget: alone, or not at all.
    queues = {"cnhit": [(0, "a new row")]}
    assert paper_check.row_peak_gib("cnhit", "a new row", budget) == budget
    assert paper_check.pick_next(queues, {"uor"}, 1.4, budget, left) is None
    assert paper_check.pick_next(queues, set(), 0.0, budget, left) == "cnhit"


@pytest.mark.parametrize("cores, jobs", [(None, 1), (1, 1), (2, 2), (4, 2), (5, 2), (6, 3), (16, 8)])
def test_two_rows_at_a_time_on_two_cores_and_half_the_cores_on_more(monkeypatch, cores, jobs):
    monkeypatch.setattr(paper_check.os, "cpu_count", lambda: cores)
    assert paper_check.default_jobs() == jobs


def test_rows_of_two_papers_run_side_by_side(monkeypatch, capsys, caplog):
    """UoR's LSTM-T and BiliMemeNet's linear baseline, each in a child
    process, both at once: both checked, the table in the papers' order."""
    caplog.set_level("INFO", logger="memotion_tf")
    rows = {"uor": ["LSTM-T"], "bilimeme": ["Linear baseline"]}
    monkeypatch.setattr(paper_check, "row_names", lambda name, overrides=(): rows[name])
    code = paper_check.main(["--paper", "uor", "--paper", "bilimeme", "--jobs", "2"])
    printed = capsys.readouterr().out
    assert code == 0
    lines = [line for line in printed.splitlines() if line.startswith("| uor |") or line.startswith("| bilimeme |")]
    assert [line.split(" | ")[1] for line in lines] == ["LSTM-T", "Linear baseline"]
    assert all("loaded, called" in line for line in lines)
    started = [r.getMessage() for r in caplog.records if r.getMessage().endswith("started (2 running)")]
    assert len(started) == 1


@pytest.mark.parametrize("name", paper_check.PAPERS)
def test_the_architecture_rows_build_every_model_class_preset_and_depth_of_their_paper(name):
    """`--rows architectures` (.ci/run's fallback) leaves out rows, never a
    full-size model: the rows it keeps build every (model class, preset,
    image depth) of the paper's rows, and each row it names exists."""
    from memotion_tf.papers import get_paper

    overrides = [*paper_check.CHECK_OVERRIDES, *paper_check.PAPER_OVERRIDES.get(name, ())]
    configs = get_paper(name).load_configs("paper", overrides)
    kept = paper_check.rows_to_check(name, "architectures")
    assert set(paper_check.ARCHITECTURE_ROWS.get(name, kept)) <= {c.system for c in configs}
    assert {paper_check.architecture(c) for c in configs if c.system in kept} == {
        paper_check.architecture(c) for c in configs}
    assert paper_check.rows_to_check(name, "all") == [c.system for c in configs]
