"""The runner every paper goes through: train merges its row into OUT, OUT is
never taken from someone else, provenance, TensorBoard, the CLI's surface."""

import glob
import json
import os

import pytest

from memotion_tf import __version__, cli, runner
from memotion_tf.config import ConfigError
from memotion_tf.datasets import registry
from memotion_tf.datasets.common import DataError

TINY = ["epochs=1", "batch_size=16", "image_size=32", "max_length=24"]


@pytest.fixture(scope="module")
def synthetic_copy(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("data") / "memotion")
    registry.synthesize("memotion7k", out, size=160, seed=2)
    return out


@pytest.fixture(scope="module")
def merged_run(synthetic_copy, tmp_path_factory):
    """`reproduce` of one row, then `train` of another into the same OUT."""
    out = str(tmp_path_factory.mktemp("runs") / "uor")
    first = runner.reproduce("uor", data_dir=synthetic_copy, out=out, seeds=1, systems=["LSTM-T"],
                             overrides=TINY, verbose=0)
    status = cli.main(["train", "--config", "uor/cnn_i.toml", "--data-dir", synthetic_copy, "--out", out,
                       "--set", "epochs=1", "--set", "seeds=1", "--set", "image_size=32"])
    assert status == 0
    with open(os.path.join(out, "results.json")) as f:
        merged = json.load(f)
    return out, first, merged


def test_train_merges_its_row_and_keeps_the_others(merged_run):
    out, first, merged = merged_run
    assert [r["system"] for r in first["rows"]] == ["LSTM-T"]
    assert [r["system"] for r in merged["rows"]] == ["LSTM-T", "CNN-I"]
    assert merged["rows"][0] == first["rows"][0]
    with open(os.path.join(out, "results.md")) as f:
        markdown = f.read()
    assert "| LSTM-T |" in markdown and "| CNN-I |" in markdown


def test_synthetic_is_known_from_the_data_itself(merged_run, synthetic_copy):
    out, first, _ = merged_run
    assert first["synthetic"] is True and first["provenance"]["synthetic"] is True
    with open(os.path.join(out, "results.md")) as f:
        assert "synthetic data" in f.read()


def test_provenance_and_relative_paths(merged_run, synthetic_copy):
    out, first, _ = merged_run
    origin = first["provenance"]
    for key in ("memotion_tf", "tensorflow", "keras", "keras_hub", "git_commit", "devices", "profile",
                "data_dir", "data_fingerprint", "synthetic", "started", "finished", "wall_time_s"):
        assert key in origin, key
    assert origin["memotion_tf"] == __version__
    assert origin["data_fingerprint"] == runner_fingerprint(synthetic_copy)
    assert origin["wall_time_s"]["LSTM-T"] > 0
    row = first["rows"][0]
    assert not os.path.isabs(row["saved_model"])
    assert os.path.exists(os.path.join(out, row["saved_model"], "saved_model.pb"))
    assert row["config"] == "uor/lstm_t.toml"


def runner_fingerprint(path):
    from memotion_tf.provenance import fingerprint

    return fingerprint(path)


def test_fingerprint_follows_the_labels(tmp_path, synthetic_copy):
    from memotion_tf.provenance import fingerprint

    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(synthetic_copy, copy)
    assert fingerprint(copy) == fingerprint(synthetic_copy)
    with open(os.path.join(copy, "labels.csv"), "a") as f:
        f.write("\n")
    assert fingerprint(copy) != fingerprint(synthetic_copy)


def test_tensorboard_logs_hold_the_papers_metric_per_epoch(merged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _, _ = merged_run
    logs = os.path.join(out, "LSTM-T", "tensorboard", "seed_0")
    tags = set()
    for folder in ("train", "validation"):
        events = EventAccumulator(os.path.join(logs, folder))
        events.Reload()
        tags |= {f"{folder}/{t}" for t in events.Tags()["scalars"] + events.Tags()["tensors"]}
    assert "validation/epoch_macro_f1" in tags and "train/epoch_loss" in tags


def test_a_finished_run_leaves_no_backup_behind(merged_run):
    out, _, _ = merged_run
    assert not glob.glob(os.path.join(out, "*", "backup"))


def test_out_is_never_taken_from_someone_else(tmp_path, synthetic_copy):
    thesis = tmp_path / "work" / "thesis.tex"
    thesis.parent.mkdir()
    thesis.write_text("years of work")
    with pytest.raises(DataError, match="not written by memotion-tf"):
        runner.reproduce("uor", data_dir=synthetic_copy, out=str(thesis.parent), systems=["LSTM-T"],
                         overrides=TINY, verbose=0)
    with pytest.raises(DataError, match="not a folder"):
        runner.reproduce("uor", data_dir=synthetic_copy, out=str(thesis), systems=["LSTM-T"],
                         overrides=TINY, verbose=0)
    assert thesis.read_text() == "years of work" and os.listdir(thesis.parent) == ["thesis.tex"]


def test_unwritable_out_fails_before_training(tmp_path, synthetic_copy, caplog):
    # A folder that cannot be created (its parent is a file): the same check catches a read-only one.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    caplog.set_level("INFO", logger="memotion_tf")
    with pytest.raises(DataError, match="cannot create the output folder"):
        runner.reproduce("uor", data_dir=synthetic_copy, out=str(blocker / "out"), systems=["LSTM-T"],
                         overrides=TINY, verbose=0)
    assert "seed 0" not in caplog.text  # nothing trained


def test_train_into_results_of_other_data_is_refused(merged_run, tmp_path):
    out, _, _ = merged_run
    other = str(tmp_path / "other")
    registry.synthesize("memotion7k", other, size=100, seed=5)
    with pytest.raises(ConfigError, match="another data fingerprint"):
        runner.reproduce("uor", data_dir=other, out=out, seeds=1, systems=["LSTM-T"], overrides=TINY,
                         verbose=0, merge=True)


def test_version_and_every_option_has_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"memotion-tf {__version__}"
    parser = cli.build_parser()

    def walk(p):
        for action in p._actions:
            if action.dest in ("help", "version"):
                continue
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    assert sub.epilog and "example" in sub.epilog, name
                    walk(sub)
                continue
            assert action.help, f"{p.prog} {action.option_strings or action.dest} has no help"

    walk(parser)
    assert "shared/" not in parser.format_help()


def test_wrong_paths_are_one_line_errors(tmp_path, caplog):
    assert cli.main(["evaluate", "--saved-model", str(tmp_path / "nope"), "--data-dir", str(tmp_path)]) == 2
    assert "not a SavedModel folder" in caplog.text
    assert cli.main(["train", "--config", "uor/nope.toml"]) == 2
    assert "config file not found" in caplog.text
    assert cli.main(["reproduce", "uor", "--data-dir", str(tmp_path / "missing"), "--out",
                     str(tmp_path / "out")]) == 2
    assert "no such file or folder" in caplog.text


def test_data_synth_never_deletes_what_it_did_not_write(tmp_path, caplog):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    assert cli.main(["data", "synth", "--dataset", "memotion7k", "--out", str(folder), "--size", "20"]) == 2
    assert "not written by memotion-tf" in caplog.text
    assert os.listdir(folder) == ["thesis.tex"] and (folder / "thesis.tex").read_text() == "years of work"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    assert cli.main(["data", "synth", "--dataset", "mami", "--out", str(a_file), "--size", "20"]) == 2
    assert a_file.read_text() == "keep me" and not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]
    # A copy memotion-tf wrote is replaced by the next synth.
    copy = tmp_path / "copy"
    assert cli.main(["data", "synth", "--dataset", "memotion7k", "--out", str(copy), "--size", "20"]) == 0
    assert cli.main(["data", "synth", "--dataset", "memotion7k", "--out", str(copy), "--size", "30", "--seed", "1"]) == 0
    assert registry.is_synthetic(str(copy))


def test_a_backup_resumes_only_the_training_it_was_made_for(tmp_path):
    backup = tmp_path / "backup" / "seed_0"
    runner.keep_backup_of(str(backup), {"epochs": 3})
    (backup / "model").mkdir()
    (backup / "model" / "history.json").write_text("{}")
    runner.keep_backup_of(str(backup), {"epochs": 3})  # the same training: kept
    assert (backup / "model" / "history.json").exists()
    runner.keep_backup_of(str(backup), {"epochs": 5})  # another config: dropped
    assert not (backup / "model").exists()
    assert json.loads((backup / "signature.json").read_text()) == {"epochs": 5}


def test_a_seed_finished_before_a_config_field_existed_is_reused_while_the_field_is_at_its_default(tmp_path):
    """After an upgrade that adds a config field, a finished seed's record (and
    a seed's backup) lacks that field: it is the same training while the field
    holds its default (the default keeps what training did before), and not
    once the field is set."""
    from memotion_tf.config import ExperimentConfig
    from memotion_tf.papers.base import config_signature

    current = dict(config_signature(ExperimentConfig(epochs=3)), key="uor/LSTM-T")
    older = {k: v for k, v in current.items() if k != "accumulation_steps"}
    record = tmp_path / "seed_0.json"
    record.write_text(json.dumps({"seed": 0, "signature": older, "metrics": {"macro_f1": 0.3}}))
    assert runner._load_record(str(record), current)["metrics"] == {"macro_f1": 0.3}
    assert runner._load_record(str(record), dict(current, accumulation_steps=2)) is None
    assert runner._load_record(str(record), dict(current, epochs=4)) is None
    # A field the record has and the current config lacks (removed since) is another training.
    assert runner._load_record(str(record), {k: v for k, v in older.items() if k != "epochs"}) is None

    backup = tmp_path / "backup" / "seed_0"
    runner.keep_backup_of(str(backup), older)
    (backup / "weights.keras").write_text("weights")
    runner.keep_backup_of(str(backup), current)
    assert (backup / "weights.keras").exists()
    runner.keep_backup_of(str(backup), dict(current, accumulation_steps=2))
    assert not (backup / "weights.keras").exists()


def test_the_backup_outlives_a_kill_during_the_export_or_the_record(synthetic_copy, tmp_path, monkeypatch):
    """A seed's backup goes only once its SavedModel and its record are final:
    a kill while either is written leaves it, and the next run resumes from it
    (no epoch trained again) and then removes it."""
    from memotion_tf import export

    out = str(tmp_path / "out")
    backup = os.path.join(out, "LSTM-T", "backup", "seed_0")
    metadata = os.path.join(backup, "model", "backup", "state", "training_metadata.json")
    record = os.path.join(out, "LSTM-T", "runs", "seed_0.json")
    args = dict(data_dir=synthetic_copy, out=out, seeds=1, systems=["LSTM-T"], overrides=TINY, verbose=0)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed during the export")

    with monkeypatch.context() as patch:
        patch.setattr(export, "export_classifier", killed)
        with pytest.raises(KeyboardInterrupt):
            runner.reproduce("uor", **args)
    assert json.load(open(metadata))["epoch"] == 1 and not os.path.exists(record)

    write = runner.atomic_write_json

    def record_killed(path, value):
        if os.path.abspath(path) == os.path.abspath(record):
            raise KeyboardInterrupt("killed while writing the record")
        write(path, value)

    with monkeypatch.context() as patch:
        patch.setattr(runner, "atomic_write_json", record_killed)
        with pytest.raises(KeyboardInterrupt):
            runner.reproduce("uor", **args)
    assert os.path.exists(os.path.join(out, "LSTM-T", "saved_model", "saved_model.pb"))
    assert os.path.exists(metadata) and not os.path.exists(record)

    runner.reproduce("uor", **args)
    assert os.path.exists(record) and not os.path.exists(backup)
    # Resumed after the last epoch: the one epoch trained before the kills is the only one.
    assert len(json.load(open(record))["history"]["loss"]) == 1


def test_a_non_chief_worker_leaves_the_chiefs_backup_alone(tmp_path, monkeypatch):
    """A worker whose writes are redirected (a non-chief) neither removes nor
    writes the shared backup, even one made for another signature: the chief
    owns it (the non-chief's removal raced the chief's write of signature.json)."""
    import json

    from memotion_tf import io, runner

    backup = tmp_path / "out" / "LSTM-T" / "backup" / "seed_0"
    backup.mkdir(parents=True)
    (backup / "signature.json").write_text(json.dumps({"config": "the chief's"}))
    (backup / "weights.keras").write_text("the chief's weights")
    monkeypatch.setattr(io, "_redirects", [])
    io.redirect_writes(str(tmp_path / "out"), str(tmp_path / "private"))
    runner.keep_backup_of(str(backup), {"config": "another"})
    assert json.loads((backup / "signature.json").read_text()) == {"config": "the chief's"}
    assert (backup / "weights.keras").exists() and not (tmp_path / "private").exists()
    # The owner itself still removes a backup made for another signature.
    monkeypatch.setattr(io, "_redirects", [])
    runner.keep_backup_of(str(backup), {"config": "another"})
    assert json.loads((backup / "signature.json").read_text()) == {"config": "another"}
    assert not (backup / "weights.keras").exists()
