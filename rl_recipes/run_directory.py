"""A run's output directory: the refusal to write over one that holds files, what a finished run writes there
besides the model (`samples.jsonl`), and the readers of what a run left (`trainer_state.json`, `completions.jsonl`).

Every script that writes a directory refuses the same way, and every script that reads a run reads it here, so
that the layout has one home.
"""

import json
from pathlib import Path

from rl_recipes.checks import RecipeError
from rl_recipes.saving import strict_json

TRAINER_STATE_FILE = "trainer_state.json"  # written by transformers' Trainer.save_state, last of a checkpoint's files
SAMPLES_FILE = "samples.jsonl"  # the last logged step's completions with their rewards, one JSON object a line
COMPLETIONS_FILE = "completions.jsonl"  # every completion with its step and total reward (`save_completions`)


def holds_files(output_dir: Path) -> bool:
    """Whether `output_dir` is a directory with anything in it."""
    output_dir = Path(output_dir)
    return output_dir.is_dir() and any(output_dir.iterdir())


def refuse_used_output_dir(output_dir: Path, fixes: str) -> None:
    """Raise `RecipeError` when `output_dir` already holds files: nothing a user produced is written over silently.

    `fixes` names the ways out the calling script offers, e.g. "pass another --output_dir, or --overwrite_output_dir
    true to replace it"."""
    if holds_files(output_dir):
        raise RecipeError(f"Output directory {output_dir} already holds files: {fixes}.")


def last_completions(trainer) -> list[dict]:
    """The completions of the last logged step with their rewards, as the trainer kept them for its logs: one dict a
    completion, {"prompt", "completion", <reward name>: value, ...}."""
    logs = trainer._logs  # TRL keeps the most recent generation batch here for its completion tables
    prompts, completions = list(logs["prompt"]), list(logs["completion"])
    rewards = {name: list(values) for name, values in logs["rewards"].items()}
    return [
        {"prompt": prompt, "completion": completion, **{name: values[i] for name, values in rewards.items()}}
        for i, (prompt, completion) in enumerate(zip(prompts, completions))
    ]


def save_outputs(trainer, num_samples: int) -> list[dict]:
    """Save the model (or adapter) and tokenizer, `trainer_state.json`, and the last completions as `samples.jsonl`;
    return the first `num_samples` of those completions."""
    output_dir = Path(trainer.args.output_dir)
    trainer.save_model(str(output_dir))
    trainer.save_state()
    samples = last_completions(trainer)
    if trainer.accelerator.is_main_process:
        with open(output_dir / SAMPLES_FILE, "w") as f:
            for sample in samples:
                f.write(strict_json(sample) + "\n")
    return samples[:num_samples]


def read_log_history(run_dir: Path) -> list[dict]:
    """The run's logs, one dict a logging step (`log_history` of its `trainer_state.json`).

    Raises FileNotFoundError where the run wrote none (it did not finish, or is not a run directory)."""
    return json.loads((Path(run_dir) / TRAINER_STATE_FILE).read_text())["log_history"]


def read_completions(run_dir: Path) -> list[dict]:
    """Every completion a run logged with `save_completions`, one record a generation: {"step", "prompt",
    "completion", "reward"}. Raises FileNotFoundError where it logged none."""
    return read_json_lines(Path(run_dir) / COMPLETIONS_FILE)


def read_json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
