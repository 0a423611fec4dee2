"""The algorithms the recipes run, by name: each one's entry script, config class, trainer classes and default YAML.

This is the one place that pairs a config class with a trainer: the recipe scripts, the benchmark and the sweeps
read it here. A shipped recipe YAML names its script in the launch line of its header comment
(`accelerate launch ... recipes/rloo.py --config ...`), and `algorithm_of_recipe` reads the algorithm from there.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.checks import RecipeError
from rl_recipes.imports import import_dotted

RECIPE_CONFIGS = REPO_ROOT / "recipes" / "configs"
STACKS = "rl_recipes.trainers.stacks"


@dataclass(frozen=True)
class Algorithm:
    """One algorithm as the recipes run it.

    `script` is the entry script's file name under `recipes/`. The classes are named by dotted path and imported
    when first asked for, so that reading which script a recipe runs (`algorithm_of_recipe`) loads no trainer:
    `trainer_class` runs single-turn recipes, `agent_trainer_class` recipes with `tools` or `environment_factory`."""

    name: str
    script: str
    default_config: Path
    config_path: str
    trainer_path: str
    agent_trainer_path: str

    @property
    def config_class(self) -> type:
        return import_dotted(self.config_path, "Config class")

    @property
    def trainer_class(self) -> type:
        return import_dotted(self.trainer_path, "Trainer class")

    @property
    def agent_trainer_class(self) -> type:
        return import_dotted(self.agent_trainer_path, "Trainer class")

    def trainer_for(self, agent: bool) -> type:
        return self.agent_trainer_class if agent else self.trainer_class


ALGORITHMS = {
    "rloo": Algorithm(
        "rloo",
        "rloo.py",
        RECIPE_CONFIGS / "a_words" / "rloo.yaml",
        "rl_recipes.trainers.agent_rloo.AgentRLOOConfig",
        f"{STACKS}.RLOORecipeTrainer",
        f"{STACKS}.AgentRLOORecipeTrainer",
    ),
    "reinforce": Algorithm(
        "reinforce",
        "reinforce.py",
        RECIPE_CONFIGS / "a_words" / "reinforce.yaml",
        "rl_recipes.trainers.reinforce.ReinforceConfig",
        f"{STACKS}.ReinforceRecipeTrainer",
        f"{STACKS}.AgentReinforceRecipeTrainer",
    ),
    # GRPOTrainer runs tools itself (TRL's own agent loop): one class for both kinds of recipe.
    "grpo": Algorithm(
        "grpo",
        "grpo.py",
        RECIPE_CONFIGS / "a_words" / "grpo.yaml",
        "trl.GRPOConfig",
        f"{STACKS}.GRPORecipeTrainer",
        f"{STACKS}.GRPORecipeTrainer",
    ),
}

# The launch line of a recipe's header comment: `#   accelerate launch [options] recipes/<script>.py ...`.
LAUNCH_LINE = re.compile(r"^#.*\baccelerate launch\b.*?\brecipes/(\w+)\.py\b")


def algorithm_of_recipe(config: Path) -> Algorithm:
    """The algorithm a recipe YAML runs under, read from the launch line of its header comment.

    Raises RecipeError when the YAML has no such line or names a script that is not in `ALGORITHMS`."""
    for line in Path(config).read_text().splitlines():
        if match := LAUNCH_LINE.match(line.strip()):
            if match.group(1) not in ALGORITHMS:
                raise RecipeError(
                    f"Recipe {config} launches recipes/{match.group(1)}.py, which is not one of "
                    f"{', '.join(a.script for a in ALGORITHMS.values())}: fix its launch line."
                )
            return ALGORITHMS[match.group(1)]
    raise RecipeError(
        f"Recipe {config} has no launch line in its header comment ('#   accelerate launch "
        "recipes/rloo.py --config ...'): add one, naming the script it runs under."
    )
