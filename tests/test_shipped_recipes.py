"""Every shipped YAML recipe parses and trains, with its Hub model, data set and reward model replaced by
local stand-ins of the same kind: a recipe that no longer parses or no longer runs fails here.

The recipe script follows from the file name (`..._reinforce...` -> reinforce.py, `..._grpo...` ->
grpo.py, otherwise rloo.py). What a CPU cannot do is switched off (bf16, vLLM), and runs are cut to one
step of 16-token completions; every other setting is the recipe's own.
"""

import json
import math
import runpy
import signal
import sys

import pytest
import yaml
from datasets import Dataset

from rl_recipes.algorithms import algorithm_of_recipe
from rl_recipes.imports import import_dotted
from tests.conftest import REPO_ROOT
from tests.stand_ins import build_causal_lm, build_classifier

RECIPES = sorted((REPO_ROOT / "recipes" / "configs").rglob("*.yaml"))

# Hub model -> (architecture of the stand-in, keyword arguments of build_causal_lm)
MODEL_STAND_INS = {
    "roneneldan/TinyStories-33M": ("gpt_neo", {}),
    "Qwen/Qwen2.5-0.5B-Instruct": ("qwen2", {"chat": True}),
    "Qwen/Qwen2.5-7B-Instruct": ("qwen2", {"chat": True}),
    "lvwerra/gpt2-imdb": ("gpt2", {"pad_token": False}),
}
REWARD_MODEL_STAND_INS = {"distilbert/distilbert-base-uncased-finetuned-sst-2-english"}
GSM8K_ROWS = [
    {
        "question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
        "answer": "Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7",
    },
    {"question": "A box holds 12 eggs. How many eggs are in 5 boxes?", "answer": "12 * 5 = <<12*5=60>>60\n#### 60"},
    {"question": "Sam reads 1,200 pages in 4 days. How many pages a day?", "answer": "1,200 / 4 = 300\n#### 300"},
]


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory, tiny_model_dir, tool_model_dir) -> dict[str, str]:
    """Hub id (or an embedded model's path) -> local stand-in path."""
    root = tmp_path_factory.mktemp("stand_ins")
    paths = {"models/tiny-story": str(tiny_model_dir), "models/tiny-tools": str(tool_model_dir)}
    for hub_id, (architecture, options) in MODEL_STAND_INS.items():
        paths[hub_id] = str(build_causal_lm(root / hub_id, architecture, **options))
    for hub_id in REWARD_MODEL_STAND_INS:
        paths[hub_id] = str(build_classifier(root / hub_id))
    gsm8k = root / "gsm8k.parquet"  # GSM8K's own columns, in a format the shipped recipes do not otherwise use
    Dataset.from_list(GSM8K_ROWS).to_parquet(gsm8k)
    paths["openai/gsm8k"] = str(gsm8k)
    return paths


def stand_in_flags(recipe: dict, stand_ins: dict[str, str]) -> list[str]:
    """Flags that swap the recipe's Hub model, Hub data set and reward model for the local stand-ins."""
    model, dataset = recipe["model_name_or_path"], recipe["dataset_name"]
    assert model in stand_ins, f"no stand-in for model {model}: add one to MODEL_STAND_INS"
    flags = ["--model_name_or_path", stand_ins[model]]
    if not (REPO_ROOT / dataset).exists():
        assert dataset in stand_ins, f"no stand-in for data set {dataset}"
        flags += ["--dataset_name", stand_ins[dataset]]
    reward_kwargs = recipe.get("reward_kwargs") or {}
    reward_model = reward_kwargs.get("reward_model", {}).get("model_name_or_path")
    if reward_model:
        assert reward_model in stand_ins, f"no stand-in for reward model {reward_model}"
        swapped = {
            **reward_kwargs,
            "reward_model": {**reward_kwargs["reward_model"], "model_name_or_path": stand_ins[reward_model]},
        }
        flags += ["--reward_kwargs", json.dumps(swapped)]
    return flags


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe_path", RECIPES, ids=lambda path: str(path.relative_to(REPO_ROOT / "recipes" / "configs"))
)
def test_shipped_recipe_parses_and_trains_on_stand_ins(recipe_path, stand_ins, tmp_path, monkeypatch):
    recipe = yaml.safe_load(recipe_path.read_text())
    output_dir = tmp_path / "out"
    argv = [
        "--config",
        str(recipe_path),
        *stand_in_flags(recipe, stand_ins),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "1",
        "--max_completion_length",
        "16",
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
        "--use_vllm",
        "false",
        "--bf16",
        "false",
        "--dtype",
        "float32",
        "--use_cpu",
        "true",
        "--report_to",
        "none",
        "--disable_tqdm",
        "true",
    ]
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(sys, "argv", [algorithm_of_recipe(recipe_path).script, *argv])
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    runpy.run_path(str(REPO_ROOT / "recipes" / algorithm_of_recipe(recipe_path).script), run_name="__main__")
    # The recipe's signal handling lasts as long as its training: pytest's own is back.
    assert {signum: signal.getsignal(signum) for signum in handlers} == handlers

    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    step = next(entry for entry in history if "reward" in entry)
    if recipe.get("tools") or recipe.get("environment_factory"):
        # An agent recipe under its script (RLOO, REINFORCE, or TRL's GRPOTrainer): its rollouts went through tools.
        assert "tools/call_frequency" in step and math.isfinite(step["tools/call_frequency"])
    # An environment class with a get_reward scores as one more reward, named after the class.
    environment = recipe.get("environment_factory")
    scored_by_environment = environment and hasattr(import_dotted(environment, "Environment"), "get_reward")
    for name in [*recipe["reward_funcs"], *([environment.rsplit(".", 1)[1]] if scored_by_environment else [])]:
        # Each reward scored at least one sample: math_accuracy found its answers, the reward model loaded. (TRL logs
        # the mean of a reward that scored nothing as None, and NaN would not be a score either.)
        mean = step[f"rewards/{name}/mean"]
        assert isinstance(mean, float) and math.isfinite(mean), f"{name} scored nothing: {mean}"
    saved = {path.name for path in output_dir.iterdir()}
    assert ("adapter_model.safetensors" if recipe.get("use_peft") else "model.safetensors") in saved
