"""How the `reward_model` reward loads its model: the dtype setting, one copy per model, one-line errors.

Its scoring is tested with the other reward families (tests/test_reward_families.py); that it loads
whole and scores right under DeepSpeed ZeRO-3 is tested in tests/test_scale.py.
"""

import json

import pytest
import torch

from rewards.reward_model import load_reward_model, reward_model
from tests.conftest import run_script
from tests.stand_ins import build_causal_lm, build_classifier

TEXTS = ["a happy day", "a sad day", "the end", "once upon a time"]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> str:
    return str(build_classifier(tmp_path_factory.mktemp("models") / "classifier"))


def test_reward_model_loads_in_the_dtype_asked_for_and_scores_alike(classifier_dir):
    model, _ = load_reward_model(classifier_dir, "bfloat16")
    assert model.dtype == torch.bfloat16
    assert load_reward_model(classifier_dir, "float32")[0].dtype == torch.float32
    settings = {
        "prompts": ["p"] * 4,
        "completions": TEXTS,
        "model_name_or_path": classifier_dir,
        "score_label": "POSITIVE",
    }
    bfloat16 = reward_model(dtype="bfloat16", **settings)
    float32 = reward_model(dtype="float32", **settings)
    assert bfloat16 != float32 and bfloat16 == pytest.approx(float32, abs=0.05)


def test_reward_model_rejects_an_unknown_dtype_naming_the_choices(classifier_dir):
    with pytest.raises(ValueError, match="dtype 'fp8' is not one of auto, float32, bfloat16, float16"):
        reward_model(prompts=["p"], completions=["x"], model_name_or_path=classifier_dir, dtype="fp8")


def test_reward_names_that_point_to_one_model_share_one_copy(classifier_dir, tmp_path):
    link = tmp_path / "same-classifier"
    link.symlink_to(classifier_dir)
    assert load_reward_model(str(link)) is load_reward_model(classifier_dir + "/")
    assert load_reward_model(classifier_dir, "bfloat16") is not load_reward_model(classifier_dir)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "error: reward_model: cannot load '{path}'"),
        ("no_label", "error: reward_model: the model has 2 labels (NEGATIVE, POSITIVE); choose the one to score with"),
    ],
)
def test_recipe_with_a_bad_reward_model_stops_with_one_line(case, message, classifier_dir, tmp_path):
    policy = build_causal_lm(tmp_path / "policy", "llama")
    path = str(tmp_path / "no-such-model") if case == "missing" else classifier_dir
    settings = {"model_name_or_path": path, **({"score_label": "POSITIVE"} if case == "missing" else {})}
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(policy),
        "--output_dir",
        str(tmp_path / "out"),
        "--reward_funcs",
        "reward_model",
        "--reward_kwargs",
        json.dumps({"reward_model": settings}),
    )

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(message.format(path=path)), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
