"""RLOO: REINFORCE with a leave-one-out baseline over k generations of each prompt (TRL's RLOOTrainer).

    accelerate launch recipes/rloo.py                                   # the default: a-words on the tiny model
    accelerate launch recipes/rloo.py --config recipes/configs/a_words/rloo_lora.yaml
    accelerate launch --config_file accelerate_configs/multi_gpu.yaml recipes/rloo.py --config my.yaml --learning_rate 1e-5

With no `--config`, `recipes/configs/a_words/rloo.yaml` is the recipe: the background experiment
(prompt "Once upon a time", 100-token completions, 10 generations per step, reward = words that start
with "a"). Flags override any key of the YAML.
"""

from rl_recipes.runner.lifecycle import main

if __name__ == "__main__":
    main("rloo")
