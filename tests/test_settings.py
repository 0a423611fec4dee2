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
