"""The closing summary a finished run prints: reward, held-out reward, time, collapse diagnostics, sample
completions and where its outputs are, in under 20 lines.
"""

from pathlib import Path

from rewards.text import completion_text


def print_summary(trainer, samples: list[dict]) -> None:
    """What the run did, in under 20 lines: reward, time, collapse diagnostics, samples, where to look next."""
    from rl_recipes.curves import CURVES_FILE, CurvesCallback

    history = trainer.state.log_history
    output_dir = Path(trainer.args.output_dir)
    curves = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, CurvesCallback))
    logged = [entry for entry in history if "reward" in entry]
    steps = [entry for entry in logged if entry["reward"] is not None]  # None: no sample of that step had a reward
    print("\n=== Summary ===")
    if steps:
        best = max(steps, key=lambda entry: entry["reward"])
        maximum = f" (maximum possible {curves.max_reward:g})" if curves.max_reward is not None else ""
        unscored = f"; {len(logged) - len(steps)} logged steps had no reward" if len(steps) < len(logged) else ""
        print(
            f"reward: {steps[0]['reward']:.2f} at step {steps[0]['step']} -> {steps[-1]['reward']:.2f} at step "
            f"{steps[-1]['step']}; best {best['reward']:.2f} at step {best['step']}{maximum}{unscored}"
        )
    elif logged:
        print(f"reward: none of the {len(logged)} logged steps had a reward (every reward returned None or faulted)")
    evaluations = [entry for entry in history if entry.get("eval_reward") is not None]
    if evaluations:  # on the held-out split: for a task rewarded 1 or 0 (the tool tasks), its success rate
        first, last = evaluations[0], evaluations[-1]
        before = f"{first['eval_reward']:.2f} at step {first['step']} -> " if len(evaluations) > 1 else ""
        print(f"held-out reward (evaluation): {before}{last['eval_reward']:.2f} at step {last['step']}")
    timing = next((entry for entry in reversed(history) if "train_runtime" in entry), None)
    if timing and timing.get("train_steps_per_second"):
        print(f"time: {timing['train_runtime']:.1f} s of training, {1 / timing['train_steps_per_second']:.2f} s a step")
    for line in trainer.collapse_summary():
        print(line)
    for sample in samples:
        print(f"- {shorten(completion_summary(sample['completion']))!r}")
    if (output_dir / CURVES_FILE).is_file():
        print(f"curves: {output_dir / CURVES_FILE}")
    tensorboard = tensorboard_logdir(trainer)
    if tensorboard:
        print(f"tensorboard: tensorboard --logdir {tensorboard}")
    print(f"outputs: {output_dir} (model, tokenizer, trainer_state.json, samples.jsonl)")


def completion_summary(completion) -> str:
    """A completion as the summary shows it: its text, or a tool-using transcript on one line."""
    from rl_recipes.agents.rollout import format_transcript

    if isinstance(completion, list) and any(m.get("tool_calls") or m.get("role") == "tool" for m in completion):
        return format_transcript(completion)
    return completion_text(completion)


def shorten(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def tensorboard_logdir(trainer) -> str | None:
    """Where TensorBoard finds this run: the output directory's `runs` folder, which holds every run there."""
    from transformers.integrations import TensorBoardCallback

    callback = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, TensorBoardCallback)), None)
    if callback is None or callback.logging_dir is None:
        return None
    logdir = Path(callback.logging_dir)
    return str(logdir.parent if logdir.parent.name == "runs" else logdir)
