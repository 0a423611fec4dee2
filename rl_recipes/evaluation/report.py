"""What the evaluation hands back: the table on standard output, the numbers as JSON, every completion as jsonl."""

from dataclasses import asdict
from pathlib import Path

from rl_recipes.evaluation.arguments import EvaluateArguments
from rl_recipes.saving import strict_json


def number(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def left_out(count: int) -> str:
    return f" ({count} left out)" if count else ""


def markdown_table(results: list[dict], reward_names: list[str], passes: list[str] = ()) -> str:
    lines = [
        "| model | reward (mean ± std) | vs first | "
        + " | ".join([*(f"{name} (mean)" for name in reward_names), *passes])
        + " | distinct fraction | distinct-2 | mean length (tokens) |",
        "| --- " * (6 + len(reward_names) + len(passes)) + "|",
    ]
    baseline = results[0]["reward_mean"]
    for r in results:
        total = f"{number(r['reward_mean'])} ± {number(r['reward_std'])}{left_out(r['reward_left_out'])}"
        versus = None if r["reward_mean"] is None or baseline is None else r["reward_mean"] - baseline
        per_reward = " | ".join(
            [
                *(
                    number(r["rewards"][name]["mean"]) + left_out(r["rewards"][name]["left_out"])
                    for name in reward_names
                ),
                *(number(r[name]) for name in passes),
            ]
        )
        lines.append(
            f"| {r['model']} | {total} | {number(versus, '+.2f')} | {per_reward} | "
            f"{r['distinct_fraction']:.2f} | {r['distinct_2']:.3f} | {r['mean_length']:.1f} |"
        )
    return "\n".join(lines)


def print_report(args: EvaluateArguments, num_prompts: int, results: list[dict]) -> None:
    print(
        f"\n{num_prompts} prompts x {args.num_samples} samples, up to {args.max_completion_length} tokens, "
        f"temperature {args.temperature}, seed {args.seed}\n"
    )
    print(markdown_table(results, list(results[0]["rewards"]), [f"pass@{k}" for k in args.pass_at_k]))


def write_outputs(args: EvaluateArguments, results: list[dict], records: list[dict]) -> None:
    """The settings and numbers to `--output_json`, every completion to `--output_completions`, where asked."""
    if args.output_json:
        Path(args.output_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output_json).write_text(strict_json({"settings": asdict(args), "results": results}, indent=2))
    if args.output_completions:
        Path(args.output_completions).parent.mkdir(parents=True, exist_ok=True)
        with open(args.output_completions, "w") as f:
            for record in records:
                f.write(strict_json(record) + "\n")
