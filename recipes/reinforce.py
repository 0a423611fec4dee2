"""REINFORCE: reward x gradient of the log-probability, one generation per step, plain SGD.

    accelerate launch recipes/reinforce.py                                 # the background experiment
    accelerate launch recipes/reinforce.py --config recipes/configs/a_words/reinforce_moving_average.yaml
    accelerate launch recipes/reinforce.py --baseline batch_mean --per_device_train_batch_size 8

With no `--config`, `recipes/configs/a_words/reinforce.yaml` is the recipe: vanilla REINFORCE
(baseline none) on the a-word task with the tiny story model. The algorithm is
`rl_recipes.trainers.ReinforceTrainer`, a subclass of TRL's RLOOTrainer that changes only the
advantage (the class that runs, with the recipes' layers on top, is in `rl_recipes/trainers/stacks.py`); every RLOOConfig setting applies, plus `baseline` and `baseline_decay`.
"""

from rl_recipes.runner.lifecycle import main

if __name__ == "__main__":
    main("reinforce")
