"""The default mode: in one process, one after another (so the machine's drift cancels in the ratios), on the same
model, prompt, generations per step and completion length, it times

- the RLOO recipe's trainer, built as `recipes/rloo.py` builds it;
- stock TRL: `RLOOTrainer` built as `trl rloo` builds it, with the same settings and none of our mixins, callbacks
  or reward guard; the RLOO trainer's generations per second over its are reported;
- the REINFORCE recipe's trainer with as many generations per step (one per prompt);
- the floor (`floor`): the same work with plain PyTorch.

Then, unless `--time_to_reward false`, the default RLOO recipe to the reward target (`time_to_reward`).
"""

from dataclasses import asdict
from pathlib import Path

from rl_recipes.benchmarking.arguments import BenchmarkArguments
from rl_recipes.benchmarking.builders import recipe_builder, stock_trl_trainer
from rl_recipes.benchmarking.floor import time_floor
from rl_recipes.benchmarking.memory import PeakMemory
from rl_recipes.benchmarking.tables import contenders_table, time_to_reward_line, write_numbers
from rl_recipes.benchmarking.time_to_reward import time_to_reward
from rl_recipes.benchmarking.timing import device_name, time_recipe, time_rloo

STOCK_TRL = "stock TRL RLOOTrainer"


def run_contenders(args: BenchmarkArguments, json_path: Path) -> None:
    from rl_recipes.algorithms import ALGORITHMS

    memory = PeakMemory(args.device)
    results = [
        time_rloo("RLOO trainer", args, memory),
        time_rloo(STOCK_TRL, args, memory, build=stock_trl_trainer),
        time_recipe(
            "REINFORCE trainer", recipe_builder(ALGORITHMS["reinforce"]), ["--num_generations", "1"], args, memory
        ),
        time_floor(args, memory),
    ]
    rloo, stock, reinforce, floor = results
    vs_stock = rloo["generations_per_s"] / stock["generations_per_s"]
    device = device_name(args)
    print(
        f"\n{args.generations_per_step} generations x {args.completion_length} tokens per step, {args.dtype}, "
        f"{device}, {args.steps} timed steps after {args.warmup_steps} warm-up\n"
    )
    print(contenders_table(results, floor))
    print(f"\nRLOO trainer / {STOCK_TRL} generations per second: {vs_stock:.2f}")
    print(f"REINFORCE / RLOO generations per second: {reinforce['generations_per_s'] / rloo['generations_per_s']:.2f}")
    to_reward = time_to_reward(args) if args.time_to_reward else None
    if to_reward:
        print(f"\n{time_to_reward_line(to_reward)}")
    write_numbers(
        json_path,
        {
            "settings": asdict(args),
            "device": device,
            "results": results,
            "rloo_vs_stock_trl": vs_stock,
            "time_to_reward": to_reward,
        },
    )
    print(f"numbers in {json_path}")
