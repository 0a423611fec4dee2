"""`--cost_growth`: how a step's cost grows with the work. The RLOO trainer and the floor, each in a fresh process
(so that each peak memory is its own; `workers`), as the model (`--cost_growth_models`, HIDDENxLAYERS of the tiny
model's configuration with random weights), the completion length (`--cost_growth_lengths`) and the generations per
step (`--cost_growth_generations`) grow. The first of each list is the base point and each axis varies from it alone.
It writes a table, the JSON and a plot beside the JSON (`.png`).
"""

import json
import re
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

from rl_recipes.benchmarking.arguments import BenchmarkArguments, BenchmarkError
from rl_recipes.benchmarking.models import scaled_model
from rl_recipes.benchmarking.tables import cost_growth_table, write_numbers
from rl_recipes.benchmarking.timing import device_name
from rl_recipes.benchmarking.workers import run_worker, worker_command


def base_point(args: BenchmarkArguments) -> tuple[str, int, int]:
    """The base point (model, length, generations): the first of each list."""
    return args.cost_growth_models[0], args.cost_growth_lengths[0], args.cost_growth_generations[0]


def growth_points(args: BenchmarkArguments) -> list[tuple[str, int, int]]:
    """(model, length, generations): the base point, and each axis varied from it alone."""
    base_model, base_length, base_generations = base_point(args)
    points = [(model, base_length, base_generations) for model in args.cost_growth_models]
    points += [(base_model, length, base_generations) for length in args.cost_growth_lengths[1:]]
    points += [(base_model, base_length, generations) for generations in args.cost_growth_generations[1:]]
    return points


def in_fresh_process(args: BenchmarkArguments, contender: str, json_path: Path) -> dict:
    """One contender (`rloo` or `floor`) in a process of its own: a process's resident-set peak cannot be reset
    below what it already holds, and the allocator keeps what a larger model before it freed."""
    run_worker([sys.executable, *worker_command(contender, args, json_path)], f"cost-growth {contender}")
    return json.loads(json_path.read_text())


def run_cost_growth(args: BenchmarkArguments, json_path: Path) -> None:
    """The RLOO trainer and the floor, each in a fresh process, as the model, the completions and the group grow."""
    for model in args.cost_growth_models:
        if not re.fullmatch(r"\d+x\d+", model):
            raise BenchmarkError(f"--cost_growth_models {model}: write each size as HIDDENxLAYERS, e.g. 256x9.")
    if min(args.cost_growth_generations) < 2:
        raise BenchmarkError(
            "--cost_growth_generations must each be at least 2 (RLOO needs two generations per prompt)."
        )
    points = []
    with tempfile.TemporaryDirectory() as workdir:
        parameters = {}
        for model, length, generations in growth_points(args):
            model_dir = Path(workdir) / model
            if model not in parameters:
                hidden_size, layers = map(int, model.split("x"))
                parameters[model] = scaled_model(args.model_name_or_path, hidden_size, layers, model_dir)
            point = replace(
                args, model_name_or_path=str(model_dir), completion_length=length, generations_per_step=generations
            )
            rloo, floor = (
                in_fresh_process(point, contender, Path(workdir) / "contender.json") for contender in ("rloo", "floor")
            )
            points.append(
                {
                    "model": model,
                    "parameters": parameters[model],
                    "completion_length": length,
                    "generations": generations,
                    "rloo": rloo,
                    "floor": floor,
                    "vs_floor": rloo["tokens_per_s"] / floor["tokens_per_s"],
                }
            )
            print(
                f"{model} ({parameters[model] / 1e6:.1f}M), {generations} x {length} tokens: "
                f"{rloo['seconds_per_step']:.2f} s/step, {rloo['tokens_per_s']:.0f} tokens/s, "
                f"{points[-1]['vs_floor']:.2f} of the floor",
                flush=True,
            )
    print(
        f"\nRLOO trainer and floor, random weights, {args.dtype}, {device_name(args)}, "
        f"{args.steps} timed steps after {args.warmup_steps} warm-up\n"
    )
    print(cost_growth_table(points))
    write_numbers(json_path, {"settings": asdict(args), "device": device_name(args), "points": points})
    plot_path = json_path.with_suffix(".png")
    draw_cost_growth(points, args, plot_path)
    print(f"numbers in {json_path}, plot in {plot_path}")


def draw_cost_growth(points: list[dict], args: BenchmarkArguments, path: Path) -> None:
    """Tokens per second and peak memory against model size and against completion length, both contenders."""
    from rl_recipes.curves import pyplot, save_figure

    plt = pyplot()
    base_model, base_length, base_generations = base_point(args)
    axes_of = {
        "model size (parameters)": (
            [p for p in points if p["completion_length"] == base_length and p["generations"] == base_generations],
            "parameters",
        ),
        "completion length (tokens)": (
            [p for p in points if p["model"] == base_model and p["generations"] == base_generations],
            "completion_length",
        ),
    }
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 7))
    for column, (label, (selected, key)) in enumerate(axes_of.items()):
        selected = sorted(selected, key=lambda p: p[key])
        for row, (metric, title) in enumerate((("tokens_per_s", "tokens per second"), ("peak_memory_mib", "peak MiB"))):
            ax = axes[row][column]
            for contender, style in (("rloo", "o-"), ("floor", "s--")):
                ax.plot(
                    [p[key] for p in selected],
                    [p[contender][metric] for p in selected],
                    style,
                    label=selected[0][contender]["name"] if selected else contender,
                )
            ax.set_xscale("log")
            if metric == "tokens_per_s":
                ax.set_yscale("log")
            ax.set_xlabel(label)
            ax.set_title(title)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize="small")
    fig.suptitle(f"RLOO trainer vs floor, one process, {device_name(args)}")
    save_figure(fig, path)
