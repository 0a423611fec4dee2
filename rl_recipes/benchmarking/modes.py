"""Which mode a benchmark command line asks for, and the run of it: `--quick`'s settings, the checks, paths made
absolute before the benchmark moves to the repository root, the default model built where it is needed."""

import os
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.benchmarking.arguments import BenchmarkArguments, check_arguments, quick_settings


def run_benchmark(args: BenchmarkArguments) -> None:
    """Run the mode `args` asks for (the default: `contenders`); its table goes to standard output and its numbers
    to `args.json_path`. Raises `BenchmarkError` where it cannot run as asked."""
    from rl_recipes.embedded import ensure_embedded_model

    if args.quick:
        args = quick_settings(args)
    check_arguments(args)
    if Path(args.model_name_or_path).exists():
        args.model_name_or_path = str(Path(args.model_name_or_path).resolve())
    json_path = Path(args.json_path).resolve()
    os.chdir(REPO_ROOT)  # the recipes name their prompts relative to the repository root
    if args.agent:
        from rl_recipes.benchmarking.agents import run_agent

        return run_agent(args, json_path)  # on its own model: the story model need not be built
    ensure_embedded_model(args.model_name_or_path)
    if args.launch_memory:
        from rl_recipes.benchmarking.launch_memory import run_launch_memory as run
    elif args.cost_growth:
        from rl_recipes.benchmarking.cost_growth import run_cost_growth as run
    elif args.generation_options:
        from rl_recipes.benchmarking.generation_options import run_generation_options as run
    else:
        from rl_recipes.benchmarking.contenders import run_contenders as run
    run(args, json_path)
