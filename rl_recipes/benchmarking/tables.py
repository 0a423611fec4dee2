"""What the benchmark shows: each mode's Markdown table and summary lines, and the JSON file of its numbers."""

from pathlib import Path

from rl_recipes.saving import strict_json


def write_numbers(json_path: Path, numbers: dict) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(strict_json(numbers, indent=2))


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; an empty cell is written `| |`."""

    def line(cells):
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def contenders_table(results: list[dict], floor: dict) -> str:
    return markdown(
        ["contender", "s/step", "generation", "scoring", "update", "generations/s", "tokens/s", "peak MiB", "vs floor"],
        [
            [
                r["name"],
                f"{r['seconds_per_step']:.3f}",
                f"{r['generation_s']:.3f}",
                f"{r['scoring_s']:.4f}",
                f"{r['update_s']:.3f}",
                f"{r['generations_per_s']:.1f}",
                f"{r['tokens_per_s']:.0f}",
                f"{r['peak_memory_mib']:.0f}",
                f"{r['generations_per_s'] / floor['generations_per_s']:.2f}",
            ]
            for r in results
        ],
    )


def time_to_reward_line(to_reward: dict) -> str:
    runs = ", ".join(
        f"seed {r['seed']}: {r['seconds']:.1f} s, {r['generations']} generations"
        if r["reached"]
        else f"seed {r['seed']}: not reached"
        for r in to_reward["runs"]
    )
    return (
        f"Default RLOO recipe to a mean reward of {to_reward['target']:g} (of {to_reward['maximum']:g}): "
        f"median {to_reward['median_seconds']:.1f} s, {to_reward['median_generations']:g} generations ({runs})"
    )


def launch_memory_table(results: list[dict]) -> str:
    """Per process (the larger of the processes' figures); the last column against DDP's weights + optimizer."""
    ddp = next((r for r in results if r["name"].startswith("DDP")), None)
    rows = []
    for r in results:
        held = r["weights_mib"] + r["optimizer_mib"]
        ratio = f"{held / (ddp['weights_mib'] + ddp['optimizer_mib']):.2f}" if ddp else "-"
        rows.append(
            [
                r["name"],
                f"{r['seconds_per_step']:.2f}",
                f"{r['peak_memory_mib']:.0f}",
                f"{r['weights_mib']:.0f}",
                f"{r['optimizer_mib']:.0f}",
                ratio,
            ]
        )
    return markdown(
        ["contender", "s/step", "peak RSS MiB", "weights MiB", "optimizer MiB", "weights + optimizer vs DDP"], rows
    )


def cost_growth_table(points: list[dict]) -> str:
    rows = []
    for point in points:
        for key in ("rloo", "floor"):
            r = point[key]
            ratio = f"{point['vs_floor']:.2f}" if key == "rloo" else "1.00"
            rows.append(
                [
                    point["model"],
                    f"{point['parameters'] / 1e6:.1f}M",
                    str(point["completion_length"]),
                    str(point["generations"]),
                    r["name"],
                    f"{r['seconds_per_step']:.3f}",
                    f"{r['generation_s']:.3f}",
                    f"{r['update_s']:.3f}",
                    f"{r['tokens_per_s']:.0f}",
                    f"{r['peak_memory_mib']:.0f}",
                    ratio,
                ]
            )
    return markdown(
        [
            "model",
            "parameters",
            "length",
            "generations",
            "contender",
            "s/step",
            "generation",
            "update",
            "tokens/s",
            "peak MiB",
            "vs floor",
        ],
        rows,
    )


def generation_options_table(results: list[dict]) -> str:
    return markdown(
        [
            "generation setting",
            "s/step",
            "generation",
            "generations/s",
            "generation speed vs recipe",
            "generations/s vs recipe",
        ],
        [
            [
                r["name"],
                f"{r['seconds_per_step']:.3f}",
                f"{r['generation_s']:.3f}",
                f"{r['generations_per_s']:.1f}",
                f"{r['generation_vs_recipe']:.2f}",
                f"{r['vs_recipe']:.2f}",
            ]
            for r in results
        ],
    )


AGENT_PHASES = ("model", "tools", "parsing", "rendering", "other")


def agent_table(agent: dict, single: dict) -> str:
    return markdown(
        ["generation", "s/batch", "model tokens/s", *AGENT_PHASES],
        [
            [
                "agent rollouts (tool loop)",
                f"{agent['seconds_per_batch']:.3f}",
                f"{agent['tokens_per_s']:.0f}",
                *(f"{agent['shares'][phase]:.0%}" for phase in AGENT_PHASES),
            ],
            [
                "single turn, same length",
                f"{single['seconds_per_batch']:.3f}",
                f"{single['tokens_per_s']:.0f}",
                "100%",
                "",
                "",
                "",
                "",
            ],
        ],
    )


def slow_tools_table(rows: list[tuple[str, dict]]) -> str:
    """(name, summary) rows: seconds a step and a batch, calls a rollout, and for slow tools their calls and waiting."""
    cells = []
    for name, r in rows:
        slow = (
            [f"{r['slow_calls_per_batch']:.1f}", f"{r['tool_wait_s_per_batch']:.3f}"]
            if "slow_calls_per_batch" in r
            else ["", ""]
        )
        cells.append(
            [
                name,
                f"{r['seconds_per_step']:.3f}",
                f"{r['seconds_per_batch']:.3f}",
                f"{r['tool_calls_per_rollout']:.2f}",
                *slow,
            ]
        )
    return markdown(
        [
            "contender",
            "s/step",
            "s/batch of rollouts",
            "tool calls/rollout",
            "slow calls/batch",
            "waiting on tools, s/batch",
        ],
        cells,
    )
