import dataclasses

import pytest

from memotion_tf import config as config_lib
from memotion_tf.models import MODELS
from memotion_tf.papers import PAPERS, get_paper
from memotion_tf.papers.memotion import make_model, text_preprocessing


def config_files(paper):
    return get_paper(paper).config_paths()


@pytest.mark.parametrize("paper", sorted(PAPERS))
@pytest.mark.parametrize("profile", config_lib.PROFILES)
def test_every_experiment_loads_and_is_checked(paper, profile):
    """Every row of every paper loads for both profiles and passes its paper's
    checks (known protocol keys, model arguments the model class takes)."""
    configs = get_paper(paper).load_configs(profile)
    systems = [c.system for c in configs]
    assert len(systems) == len(set(systems)) == len(config_files(paper))
    for config in configs:
        assert config.paper == paper and config.system
        # A row of ours (a baseline the paper does not have) says so in its notes instead.
        ours = "baseline" in config.system.lower() or config.notes.startswith("Not in the paper")
        assert config.paper_metrics or ours or config.protocol.get("table"), \
            f"{config.config_path} must carry the paper's numbers, or say in its notes that it is not in the paper"


@pytest.mark.parametrize("paper", ["uor", "cnhit"])
@pytest.mark.parametrize("profile", config_lib.PROFILES)
def test_every_memotion_experiment_builds(paper, profile):
    systems = []
    for path in config_files(paper):
        config = config_lib.load_config(path, profile)
        assert config.paper == paper and config.system and config.model in MODELS
        assert config.paper_metrics, f"{path} must carry the paper's numbers"
        # Pretrained weights cannot be downloaded here: the same architecture, random init
        # (a tiny BERT stands in for a named text preset).
        config = config.replace(preset="", image_weights="")
        vectorizer = text_preprocessing(config, MODELS[config.model], ["a few words", "more words"])
        model = make_model(config, 3, vectorizer)
        assert model.count_params() > 0
        systems.append(config.system)
    assert len(systems) == len(set(systems))


def test_uor_rows_and_profiles():
    quick = {c.system: c for c in (config_lib.load_config(p, "quick") for p in config_files("uor"))}
    paper = {c.system: c for c in (config_lib.load_config(p, "paper") for p in config_files("uor"))}
    assert list(quick) == ["LSTM-T", "LSTM-T+GMM", "Conv1D-T", "Conv1D-T+GMM", "CNN-I", "CNN-LSTM-TI"]
    assert paper["LSTM-T"].epochs == 20 and paper["LSTM-T"].seeds == 5
    assert quick["LSTM-T"].epochs < paper["LSTM-T"].epochs
    assert quick["LSTM-T+GMM"].gmm and not quick["LSTM-T"].gmm
    # The +GMM row inherits its model from the plain row's file.
    assert quick["LSTM-T+GMM"].model_args == quick["LSTM-T"].model_args
    assert paper["CNN-LSTM-TI"].paper_metrics["test_macro_f1"] == 0.329


def test_overrides_are_typed():
    path = config_files("uor")[0]
    config = config_lib.load_config(path, "quick", ["epochs=3", "learning_rate=0.01", "gmm=true",
                                                    "model_args.dropout=0.25"])
    assert config.epochs == 3 and isinstance(config.epochs, int)
    assert config.learning_rate == 0.01 and config.gmm is True
    assert config.model_args["dropout"] == 0.25 and config.model_args["lstm_units"] == 128


@pytest.mark.parametrize("item, message", [
    ("epochs=three", "expected a int"),
    ("nonsense=1", "unknown config key"),
    ("epoch=3", "did you mean 'epochs'"),
    ("epochs.x=3", "is not a table"),
    ("epochs", "expected key=value"),
    ("gmm=maybe", "expected true or false"),
])
def test_bad_overrides_are_named(item, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.load_config(config_files("uor")[0], "quick", [item])


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('system = "x"\nepochz = 3\n')
    with pytest.raises(config_lib.ConfigError, match=r"bad\.toml.*epochz"):
        config_lib.load_config(str(path))


def test_unknown_profile():
    with pytest.raises(config_lib.ConfigError, match="unknown profile"):
        config_lib.load_config(config_files("uor")[0], "fast")


def test_reference_lists_every_key():
    reference = config_lib.reference_markdown()
    for field in dataclasses.fields(config_lib.ExperimentConfig):
        assert f"| `{field.name}` |" in reference


def test_config_reference_is_current():
    with open(config_lib.REFERENCE_PATH) as f:
        assert f.read() == config_lib.reference_document(), (
            "configs/README.md is stale: run `python -m memotion_tf.config`")


def test_cnhit_rows_and_profiles():
    quick = {c.system: c for c in (config_lib.load_config(p, "quick") for p in config_files("cnhit"))}
    paper = {c.system: c for c in (config_lib.load_config(p, "paper") for p in config_files("cnhit"))}
    assert list(paper) == ["HFM", "TFNet", "TFNet+TSA", "ResNet", "BERT", "ResNet+TSA+RA", "BERT+TSA+KL"]
    for config in paper.values():
        assert config.learning_rate == 2e-5 and config.lr_schedule == "warmup_cosine"
        assert config.folds == 0 and config.val_fraction == 0.2 and config.preset == "bert_base_en_uncased"
    assert paper["ResNet"].model_args["depth"] == 101 and paper["ResNet"].image_weights == "imagenet"
    assert paper["ResNet+TSA+RA"].augment_args == {"num_ops": 14, "magnitude": 11}
    assert paper["BERT+TSA+KL"].loss == "clean_raw_kl" and paper["TFNet+TSA"].loss == "tsa"
    # The paper aims TSA at the positive class and writes Loss_kl(O_c, O_d) in PyTorch's order.
    for system in ("TFNet+TSA", "ResNet+TSA+RA", "BERT+TSA+KL"):
        assert paper[system].loss_args["target_classes"] == ["positive"]
    assert paper["BERT+TSA+KL"].loss_args["direction"] == "raw_clean"
    # Pretrained parts of the quick profile's fusion rows fine-tune at the text rows' rate.
    assert quick["TFNet"].pretrained_learning_rate == quick["BERT"].learning_rate == 5e-5
    assert quick["BERT"].preset == "all_minilm_l6_v2" and quick["ResNet"].model_args["depth"] == 50
    assert "depth" not in quick["BERT"].model_args


def test_unknown_model_argument_is_an_error_with_a_did_you_mean(tmp_path):
    paper = get_paper("uor")
    bad = tmp_path / "lstm.toml"
    bad.write_text('base = "%s"\n[model_args]\ndropuot = 0.3\n' % paper.config_paths()[0])
    with pytest.raises(config_lib.ConfigError, match=r"unknown model_args key\(s\) 'dropuot' \(did you mean 'dropout'\?\)"):
        paper.load_configs("quick", files=[str(bad)])
    with pytest.raises(config_lib.ConfigError, match="takes model_args 'foo'"):
        paper.load_configs("quick", ["model_args.foo=1"])
    with pytest.raises(config_lib.ConfigError, match=r"'dropuot' \(did you mean 'dropout'\?\)"):
        paper.load_configs("quick", ["model_args.dropuot=0.3"])


def test_a_model_argument_on_the_command_line_goes_to_the_rows_that_take_it():
    configs = {c.system: c for c in get_paper("cnhit").load_configs("quick", ["model_args.depth=50"])}
    assert configs["ResNet"].model_args["depth"] == 50
    assert "depth" not in configs["BERT"].model_args


def test_unknown_paper_is_an_error_with_a_did_you_mean():
    with pytest.raises(config_lib.ConfigError, match="did you mean 'uor'"):
        get_paper("uorr")
