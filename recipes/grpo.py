"""GRPO (TRL's GRPOTrainer), for comparison: k generations per prompt, advantage = (reward - group
mean) / group standard deviation.

    accelerate launch recipes/grpo.py                          # the a-word task on the tiny model
    accelerate launch recipes/grpo.py --config my_recipe.yaml

The division by the group's standard deviation is what sets GRPO apart from RLOO here: it scales
every group to unit variance, so a group whose rewards barely differ gets the same push as one
whose rewards differ a lot (the lecture notes in the background criticise it for this).
With no `--config`, `recipes/configs/a_words/grpo.yaml` is the recipe.
"""

from pathlib import Path

from trl import GRPOConfig, GRPOTrainer

from rl_recipes.runner import main

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "a_words" / "grpo.yaml"

if __name__ == "__main__":
    main(GRPOConfig, GRPOTrainer, DEFAULT_CONFIG)
