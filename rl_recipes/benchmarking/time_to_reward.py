"""What a user waits for: the default RLOO recipe (`recipes/configs/a_words/rloo.yaml` as it is) trained from
scratch once per seed, stopped when a step's mean reward first reaches a fraction of the maximum a-word reward; its
wall-clock training time and the generations it took, with the medians over seeds."""

import math
import statistics
import tempfile
import time

from transformers import TrainerCallback

from rl_recipes.benchmarking.arguments import BenchmarkArguments
from rl_recipes.benchmarking.builders import quiet_recipe_trainer


class StopAtReward(TrainerCallback):
    """Notes the wall-clock time and step at which a step's mean reward first reaches `target`, and stops there."""

    def __init__(self, target: float):
        self.target = target
        self.reached: dict | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.reached is None and (logs or {}).get("reward", -math.inf) >= self.target:
            self.reached = {
                "seconds": time.perf_counter() - self.start,
                "steps": state.global_step,
                "generations": state.global_step * args.generation_batch_size,
            }
            control.should_training_stop = True


def time_to_reward(args: BenchmarkArguments) -> dict:
    """The default RLOO recipe, once per seed, until its mean reward reaches the target; medians over seeds."""
    from rewards.a_words import max_a_words
    from rl_recipes.algorithms import ALGORITHMS

    rloo = ALGORITHMS["rloo"]
    runs = []
    for seed in args.time_to_reward_seeds:
        with tempfile.TemporaryDirectory() as output_dir:
            overrides = [
                "--model_name_or_path",
                args.model_name_or_path,
                "--output_dir",
                output_dir,
                "--seed",
                str(seed),
                "--use_cpu",
                str(args.device == "cpu").lower(),
            ]
            trainer = quiet_recipe_trainer(rloo, rloo.default_config, overrides)
            maximum = max_a_words(trainer.processing_class, trainer.args.max_completion_length)
            stop = StopAtReward(args.reward_target * maximum)
            trainer.add_callback(stop)
            trainer.train()
        runs.append({"seed": seed, "reached": stop.reached is not None, **(stop.reached or {})})
    reached = [run for run in runs if run["reached"]]
    return {
        "target": args.reward_target * maximum,
        "maximum": maximum,
        "runs": runs,
        "median_seconds": statistics.median(r["seconds"] for r in reached) if reached else math.nan,
        "median_generations": statistics.median(r["generations"] for r in reached) if reached else math.nan,
    }
