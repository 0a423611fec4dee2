"""The trainer classes the recipes run: their method order, which layer answers each hook, the registry that pairs
them with config classes and scripts, and that a recipe builds exactly the registered class."""

import pytest

from rl_recipes import REPO_ROOT
from rl_recipes.algorithms import ALGORITHMS, algorithm_of_recipe
from rl_recipes.checks import RecipeError
from rl_recipes.trainers import stacks

# Each stack's method resolution order, from the class itself down to TRL's trainer.
METHOD_ORDER = {
    "RLOORecipeTrainer": ["CollapseDiagnosticsMixin", "RewardGuardMixin", "SinglePassMixin", "RLOOTrainer"],
    "AgentRLOORecipeTrainer": [
        "CollapseDiagnosticsMixin",
        "RewardGuardMixin",
        "SinglePassMixin",
        "AgentRLOOTrainer",
        "RLOOTrainer",
    ],
    "ReinforceRecipeTrainer": [
        "CollapseDiagnosticsMixin",
        "RewardGuardMixin",
        "SinglePassMixin",
        "ReinforceTrainer",
        "RLOOTrainer",
    ],
    "AgentReinforceRecipeTrainer": [
        "CollapseDiagnosticsMixin",
        "RewardGuardMixin",
        "SinglePassMixin",
        "AgentReinforceTrainer",
        "ReinforceTrainer",
        "AgentRLOOTrainer",
        "RLOOTrainer",
    ],
    "GRPORecipeTrainer": ["CollapseDiagnosticsMixin", "RewardGuardMixin", "GRPOTrainer"],
}

# For each hook the recipes override, the layers that define it, in the order a call passes through them.
HOOK_LAYERS = {
    "RLOORecipeTrainer": {
        "__init__": ["RewardGuardMixin", "RLOOTrainer"],
        "_generate_and_score_completions": ["CollapseDiagnosticsMixin", "RLOOTrainer"],
        "_calculate_rewards": ["RewardGuardMixin", "RLOOTrainer"],
        "_get_per_token_logps_and_entropies": ["SinglePassMixin", "RLOOTrainer"],
        "_compute_loss": ["SinglePassMixin", "RLOOTrainer"],
        "_generate": ["RLOOTrainer"],
    },
    "AgentRLOORecipeTrainer": {
        "__init__": ["RewardGuardMixin", "AgentRLOOTrainer", "RLOOTrainer"],
        "_generate_and_score_completions": ["CollapseDiagnosticsMixin", "AgentRLOOTrainer", "RLOOTrainer"],
        "_calculate_rewards": ["RewardGuardMixin", "AgentRLOOTrainer", "RLOOTrainer"],
        "_get_per_token_logps_and_entropies": ["SinglePassMixin", "AgentRLOOTrainer", "RLOOTrainer"],
        "_compute_loss": ["SinglePassMixin", "AgentRLOOTrainer", "RLOOTrainer"],
        "_generate": ["AgentRLOOTrainer", "RLOOTrainer"],
    },
    "ReinforceRecipeTrainer": {
        "__init__": ["RewardGuardMixin", "ReinforceTrainer", "RLOOTrainer"],
        "_generate_and_score_completions": ["CollapseDiagnosticsMixin", "ReinforceTrainer", "RLOOTrainer"],
        "_calculate_rewards": ["RewardGuardMixin", "ReinforceTrainer", "RLOOTrainer"],
        "_get_per_token_logps_and_entropies": ["SinglePassMixin", "ReinforceTrainer", "RLOOTrainer"],
        "_compute_loss": ["SinglePassMixin", "RLOOTrainer"],
        "_generate": ["RLOOTrainer"],
    },
    "AgentReinforceRecipeTrainer": {
        "__init__": ["RewardGuardMixin", "ReinforceTrainer", "AgentRLOOTrainer", "RLOOTrainer"],
        "_generate_and_score_completions": [
            "CollapseDiagnosticsMixin",
            "ReinforceTrainer",
            "AgentRLOOTrainer",
            "RLOOTrainer",
        ],
        "_calculate_rewards": ["RewardGuardMixin", "ReinforceTrainer", "AgentRLOOTrainer", "RLOOTrainer"],
        "_get_per_token_logps_and_entropies": [
            "SinglePassMixin",
            "ReinforceTrainer",
            "AgentRLOOTrainer",
            "RLOOTrainer",
        ],
        "_compute_loss": ["SinglePassMixin", "AgentRLOOTrainer", "RLOOTrainer"],
        "_generate": ["AgentRLOOTrainer", "RLOOTrainer"],
    },
    "GRPORecipeTrainer": {
        "__init__": ["RewardGuardMixin", "GRPOTrainer"],
        "_generate_and_score_completions": ["CollapseDiagnosticsMixin", "GRPOTrainer"],
        "_calculate_rewards": ["RewardGuardMixin", "GRPOTrainer"],
        "_get_per_token_logps_and_entropies": ["GRPOTrainer"],
        "_compute_loss": ["GRPOTrainer"],
        "_generate": ["GRPOTrainer"],
    },
}


def layers_down_to_trl(trainer_class) -> list[type]:
    """The classes of `trainer_class`'s method order after itself, down to TRL's trainer (its bases not listed)."""
    mro = list(trainer_class.__mro__)
    trl_trainer = next(c for c in mro if c.__module__.startswith("trl."))
    return mro[1 : mro.index(trl_trainer) + 1]


@pytest.mark.parametrize("name", METHOD_ORDER)
def test_each_stack_has_its_method_order(name):
    assert [c.__name__ for c in layers_down_to_trl(getattr(stacks, name))] == METHOD_ORDER[name]


@pytest.mark.parametrize("name", HOOK_LAYERS)
def test_each_hook_passes_through_the_layers_in_order(name):
    layers = layers_down_to_trl(getattr(stacks, name))
    for hook, expected in HOOK_LAYERS[name].items():
        assert [c.__name__ for c in layers if hook in c.__dict__] == expected, hook


def test_every_stack_is_registered_and_every_registered_trainer_is_a_named_stack():
    registered = {cls for a in ALGORITHMS.values() for cls in (a.trainer_class, a.agent_trainer_class)}
    assert {cls.__name__ for cls in registered} == set(METHOD_ORDER)
    for cls in registered:
        assert cls.__module__ == stacks.__name__ and cls.__qualname__ == cls.__name__  # defined by name, not built


@pytest.mark.parametrize("name", ALGORITHMS)
def test_the_registry_pairs_each_algorithm_with_its_script_and_default_recipe(name):
    algorithm = ALGORITHMS[name]
    assert (REPO_ROOT / "recipes" / algorithm.script).is_file()
    assert algorithm_of_recipe(algorithm.default_config) is algorithm
    assert f'main("{name}")' in (REPO_ROOT / "recipes" / algorithm.script).read_text()


def test_every_shipped_recipe_names_a_registered_script():
    recipes = sorted((REPO_ROOT / "recipes" / "configs").rglob("*.yaml"))
    assert recipes
    by_algorithm = {path.relative_to(REPO_ROOT).as_posix(): algorithm_of_recipe(path).name for path in recipes}
    assert by_algorithm["recipes/configs/calculator/loo_ppo.yaml"] == "rloo"  # PPO-style clipping, RLOO's trainer
    assert by_algorithm["recipes/configs/vault/reinforce_moving_average.yaml"] == "reinforce"
    assert by_algorithm["recipes/configs/a_words/grpo.yaml"] == "grpo"


def test_a_recipe_without_a_launch_line_is_refused_in_one_line(tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("# my recipe\nlearning_rate: 0.001\n")
    with pytest.raises(RecipeError, match="no launch line") as error:
        algorithm_of_recipe(recipe)
    assert "\n" not in str(error.value)
    recipe.write_text("#   accelerate launch recipes/ppo.py --config mine.yaml\n")
    with pytest.raises(RecipeError, match="recipes/ppo.py, which is not one of rloo.py, reinforce.py, grpo.py"):
        algorithm_of_recipe(recipe)


@pytest.mark.parametrize(
    "algorithm, agent, expected",
    [
        ("rloo", False, "RLOORecipeTrainer"),
        ("reinforce", True, "AgentReinforceRecipeTrainer"),
    ],
)
def test_a_recipe_builds_exactly_the_registered_stack(
    tiny_model_dir, tool_model_dir, tmp_path, algorithm, agent, expected
):
    from rl_recipes.runner.assembly import build_trainer
    from rl_recipes.runner.cli import parse_args

    recipe = ALGORITHMS[algorithm]
    config = (
        REPO_ROOT
        / "recipes"
        / "configs"
        / ("calculator" if agent else "a_words")
        / recipe.script.replace(".py", ".yaml")
    )
    model = tool_model_dir if agent else tiny_model_dir
    args = parse_args(
        recipe.config_class,
        config,
        ["--model_name_or_path", str(model), "--output_dir", str(tmp_path / "out"), "--report_to", "none"],
    )
    trainer = build_trainer(recipe, *args)
    assert type(trainer) is getattr(stacks, expected)
