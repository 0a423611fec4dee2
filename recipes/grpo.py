"""GRPO (TRL's GRPOTrainer), for comparison: k generations per prompt, advantage = (reward - group
mean) / group standard deviation.

    accelerate launch recipes/grpo.py                          # the a-word task on the tiny model
    accelerate launch recipes/grpo.py --config my_recipe.yaml

The division by the group's standard deviation is what sets GRPO apart from RLOO here: it scales
every group to unit variance, so a group whose rewards barely differ gets the same push as one
whose rewards differ a lot (the background notes criticise it for this; docs/background.md).
With no `--config`, `recipes/configs/a_words/grpo.yaml` is the recipe.
"""

from rl_recipes.runner.lifecycle import main

if __name__ == "__main__":
    main("grpo")
