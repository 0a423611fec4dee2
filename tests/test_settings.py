"""Settings a recipe accepts either do what they say or stop the run at start-up with one line."""

import pytest
import torch

from rl_recipes.checks import RecipeError
from rl_recipes.runner import parse_args
from tests.conftest import REPO_ROOT


def rloo_args(tmp_path, recipe: str, *flags: str):
    from trl import RLOOConfig

    config = tmp_path / "recipe.yaml"
    config.write_text(recipe)
    return parse_args(RLOOConfig, config, ["--config", str(config), "--output_dir", str(tmp_path / "out"), *flags])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fallback is for machines without a bf16 GPU")
def test_a_gpu_recipe_that_leaves_bf16_to_the_default_runs_in_float32_and_says_so(tmp_path, capsys):
    _, training_args, _ = rloo_args(tmp_path, "learning_rate: 1.0e-5\n")
    assert training_args.bf16 is False
    assert "bf16 is not available on this machine (no GPU with bf16 support): training in float32" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a bf16 GPU")
@pytest.mark.parametrize("recipe, flags", [("bf16: true\n", []), ("", ["--bf16", "true"])], ids=["in the YAML", "as a flag"])
def test_bf16_asked_for_on_a_machine_without_it_is_refused_in_one_line(tmp_path, recipe, flags):
    with pytest.raises(RecipeError, match="Your setup doesn't support bf16/gpu") as error:
        rloo_args(tmp_path, recipe + "learning_rate: 1.0e-5\n", *flags)
    assert "\n" not in str(error.value)


def fake_machine(monkeypatch, cuda: bool, bitsandbytes: bool):
    import transformers.utils

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(transformers.utils, "is_bitsandbytes_available", lambda: bitsandbytes)


@pytest.mark.parametrize(
    "cuda, bitsandbytes, flags, message",
    [
        (False, True, ["--load_in_4bit", "true", "--use_peft", "true"], "--load_in_4bit quantizes the model with bitsandbytes, which needs a CUDA GPU"),
        (True, False, ["--load_in_8bit", "true", "--use_peft", "true"], "--load_in_8bit needs the bitsandbytes package"),
        (True, True, ["--load_in_4bit", "true"], "only a LoRA adapter can train: add --use_peft true"),
    ],
    ids=["no GPU", "no bitsandbytes", "no LoRA"],
)
def test_qlora_where_it_cannot_work_stops_at_start_up(tmp_path, monkeypatch, cuda, bitsandbytes, flags, message):
    from rl_recipes.checks import check_quantization

    _, _, model_args = rloo_args(tmp_path, "bf16: false\n", *flags)
    fake_machine(monkeypatch, cuda, bitsandbytes)
    with pytest.raises(RecipeError, match=message):
        check_quantization(model_args)


@pytest.mark.parametrize("flag, bits", [("--load_in_4bit", "4"), ("--load_in_8bit", "8")])
def test_qlora_quantizes_the_model_the_trainer_loads(tmp_path, monkeypatch, flag, bits):
    from rl_recipes.checks import check_quantization
    from rl_recipes.runner import model_init_kwargs

    _, training_args, model_args = rloo_args(tmp_path, "bf16: false\n", flag, "true", "--use_peft", "true")
    _, plain_training_args, plain_model_args = rloo_args(tmp_path, "bf16: false\n", "--use_peft", "true")
    fake_machine(monkeypatch, cuda=True, bitsandbytes=True)
    check_quantization(model_args)
    kwargs = model_init_kwargs(model_args, training_args)
    assert getattr(kwargs["quantization_config"], f"load_in_{bits}bit") is True
    assert kwargs["device_map"] == {"": 0}  # the process's own GPU
    assert "quantization_config" not in model_init_kwargs(plain_model_args, plain_training_args)
