"""`--generation_options`: the RLOO recipe as it is, then with each generation setting TRL offers without vLLM, each
in the same run, with its speed relative to the recipe's."""

from dataclasses import asdict
from pathlib import Path

from rl_recipes.benchmarking.arguments import BenchmarkArguments
from rl_recipes.benchmarking.memory import PeakMemory
from rl_recipes.benchmarking.tables import generation_options_table, write_numbers
from rl_recipes.benchmarking.timing import device_name, time_rloo

# Generation settings TRL 1.16 exposes without vLLM: (name, recipe flags), each timed against the recipe as it is.
GENERATION_OPTIONS = [
    ("static KV cache", ["--cache_implementation", "static"]),
    ("continuous batching (paged)", ["--use_transformers_continuous_batching", "true"]),
    ("torch.compile", ["--torch_compile", "true"]),
]


def run_generation_options(args: BenchmarkArguments, json_path: Path) -> None:
    memory = PeakMemory(args.device)
    results = [time_rloo("recipe as it is", args, memory)]
    results += [time_rloo(name, args, memory, flags) for name, flags in GENERATION_OPTIONS]
    for r in results:
        r["generation_vs_recipe"] = results[0]["generation_s"] / r["generation_s"]
        r["vs_recipe"] = r["generations_per_s"] / results[0]["generations_per_s"]
    print(
        f"\nRLOO recipe, {args.generations_per_step} generations x {args.completion_length} tokens per step, "
        f"{args.dtype}, {device_name(args)}, {args.steps} timed steps after {args.warmup_steps} warm-up\n"
    )
    print(generation_options_table(results))
    write_numbers(json_path, {"settings": asdict(args), "device": device_name(args), "results": results})
    print(f"numbers in {json_path}")
