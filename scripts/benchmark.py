"""How fast the recipes turn compute into reward, against the floor of a plain PyTorch loop.

    python scripts/benchmark.py                                  # tiny model, 10 generations x 100 tokens, CPU
    python scripts/benchmark.py --quick true                     # a few steps, for a smoke test
    python scripts/benchmark.py --model_name_or_path Qwen/Qwen2.5-0.5B --dtype bfloat16 --device cuda --use_peft true
    python scripts/benchmark.py --launch_memory true             # memory per process: 1 process, DDP, ZeRO-2, ZeRO-3
    python scripts/benchmark.py --cost_growth true               # how cost grows with model size, length, generations
    python scripts/benchmark.py --generation_options true        # TRL's generation settings against the recipe's
    python scripts/benchmark.py --agent true                     # agent rollouts against single-turn generation
    python scripts/benchmark.py --agent true --tool_latency 0.1  # ... and against TRL's loop, with tools that take 0.1 s

By default it times, one after another in one process, the RLOO recipe's trainer, stock TRL's RLOOTrainer, the
REINFORCE recipe's trainer and a plain PyTorch loop on the same work, each step in phases (generation, scoring,
update), then the default RLOO recipe's time to the reward target. The table goes to standard output, the numbers
to `--json_path`. What each mode measures: `rl_recipes/benchmarking/` (one module a mode) and `docs/benchmarks.md`.
"""

import sys

from transformers import HfArgumentParser

from rl_recipes.benchmarking.arguments import BenchmarkArguments, BenchmarkError


def main() -> None:
    from rl_recipes.benchmarking.modes import run_benchmark

    (args,) = HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses()
    try:
        run_benchmark(args)
    except BenchmarkError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
