"""`--launch_memory`: memory and speed per process under each launch setup, on a model large enough to tell them
apart (the tiny model's configuration widened and deepened, about 27M parameters by default, random weights).

Each contender is an `accelerate launch` of the `launch_memory` worker (`workers`), training the RLOO recipe with the
same generations per step: one process, DDP over two CPU processes, DeepSpeed ZeRO-2 and ZeRO-3 over two. Each
process reports its peak resident memory, its seconds per step, and the bytes it holds for the model's weights and
for the optimizer (state and, under DeepSpeed, its fp32 master partition).
"""

import json
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.benchmarking.arguments import LAUNCH_SETUP_KEYS, BenchmarkArguments, BenchmarkError
from rl_recipes.benchmarking.models import scaled_model
from rl_recipes.benchmarking.tables import launch_memory_table, write_numbers
from rl_recipes.benchmarking.workers import run_worker, worker_command

LAUNCH_CONFIGS = REPO_ROOT / "accelerate_configs"
# Launch setups: (name, processes, `accelerate launch` flags). All on CPU; the worker picks --use_cpu.
LAUNCH_SETUPS = {
    "single": ("1 process", 1, ["--config_file", str(LAUNCH_CONFIGS / "cpu.yaml")]),
    "ddp": ("DDP x 2", 2, ["--multi_gpu", "--num_processes", "2", "--mixed_precision", "no"]),
    "zero2": (
        "ZeRO-2 x 2",
        2,
        [
            "--config_file",
            str(LAUNCH_CONFIGS / "deepspeed_zero2.yaml"),
            "--num_processes",
            "2",
            "--mixed_precision",
            "no",
        ],
    ),
    "zero3": (
        "ZeRO-3 x 2",
        2,
        [
            "--config_file",
            str(LAUNCH_CONFIGS / "deepspeed_zero3.yaml"),
            "--num_processes",
            "2",
            "--mixed_precision",
            "no",
        ],
    ),
}
assert tuple(LAUNCH_SETUPS) == LAUNCH_SETUP_KEYS  # the flag's choices are these setups


def run_launch_memory(args: BenchmarkArguments, json_path: Path) -> None:
    unknown = set(args.launch_memory_contenders) - set(LAUNCH_SETUPS)
    if unknown:
        raise BenchmarkError(
            f"--launch_memory_contenders {', '.join(sorted(unknown))}: choose from {', '.join(LAUNCH_SETUPS)}."
        )
    generations = args.generations_per_step  # of one prompt, the same for every contender
    if generations % 2:
        raise BenchmarkError(
            "--generations_per_step must be even with --launch_memory: two processes share each step's generations."
        )
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        model_dir = Path(workdir) / "model"
        parameters = scaled_model(
            args.model_name_or_path, args.launch_memory_hidden_size, args.launch_memory_layers, model_dir
        )
        # float32 on the CPU, full fine-tuning: what the setups shard is the weights and AdamW's state.
        worker_args = replace(
            args,
            model_name_or_path=str(model_dir),
            dtype="float32",
            device="cpu",
            use_peft=False,
            gradient_checkpointing=False,
        )
        for key in args.launch_memory_contenders:
            name, processes, launcher = LAUNCH_SETUPS[key]
            worker_json = Path(workdir) / f"{key}.json"
            run_worker(
                [
                    sys.executable,
                    "-m",
                    "accelerate.commands.launch",
                    *launcher,
                    *worker_command("launch_memory", worker_args, worker_json),
                ],
                name,
            )
            ranks = [json.loads(Path(f"{worker_json}.rank{rank}").read_text()) for rank in range(processes)]
            results.append(
                {
                    "name": name,
                    "processes": processes,
                    "ranks": ranks,
                    "seconds_per_step": max(r["seconds_per_step"] for r in ranks),
                    "peak_memory_mib": max(r["peak_memory_mib"] for r in ranks),
                    "weights_mib": max(r["weights_mib"] for r in ranks),
                    "optimizer_mib": max(r["optimizer_mib"] for r in ranks),
                }
            )
    print(
        f"\nRLOO, {parameters / 1e6:.1f}M parameters (random), float32, {generations} generations x "
        f"{args.completion_length} tokens per step, {args.steps} timed steps after {args.warmup_steps} warm-up, CPU\n"
    )
    print(launch_memory_table(results))
    write_numbers(json_path, {"settings": asdict(args), "parameters": parameters, "results": results})
    print(f"numbers in {json_path}")
