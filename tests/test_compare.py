import json
import subprocess
import sys
from pathlib import Path

import pytest

from rl_recipes.sweeps.analysis import strategy
from tests.conftest import REPO_ROOT

CONFIGS = REPO_ROOT / "recipes" / "configs" / "a_words"


def run_sweep(tmp_path, plot: str, *flags: str) -> tuple[Path, str, list[str]]:
    """Run scripts/compare.py from elsewhere, two runs at a time; its output directory, table and table rows.
    The plot it must have drawn is checked here."""
    output_dir = tmp_path / "sweep"
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "compare.py"),
        *flags,
        "--jobs",
        "2",
        "--output_dir",
        str(output_dir),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    png = (output_dir / plot).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    table = (output_dir / "results.md").read_text()
    return (
        output_dir,
        table,
        [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| ---")],
    )


@pytest.mark.slow
def test_two_run_sweep_writes_plot_table_and_numbers_that_match_the_runs_logs(tiny_model_dir, tmp_path):
    output_dir, table, rows = run_sweep(
        tmp_path,
        "reward_vs_generations.png",
        "--configs",
        str(CONFIGS / "reinforce.yaml"),
        str(CONFIGS / "rloo.yaml"),
        "--seeds",
        "0",
        "--generations",
        "20",
        "--window",
        "10",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--max_completion_length",
        "30",
    )
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header == [
        "recipe",
        "seed",
        "final reward (last 10)",
        "best reward",
        "generations to 90%",
        "entropy at end",
        "distinct of last 50",
        "train time (s)",
    ]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["reinforce", "**reinforce**", "rloo", "**rloo**"]
    assert "maximum possible reward 30" in table  # 30 tokens, one a-word each at best

    results = json.loads((output_dir / "results.json").read_text())
    assert results["max_reward"] == 30
    for arm, steps in [("reinforce", 20), ("rloo", 2)]:
        run_dir = output_dir / arm / "seed-0"
        run = results["results"][arm]["runs"][0]
        history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
        step_rewards = [entry["reward"] for entry in history if "reward" in entry]
        assert len(step_rewards) == steps and run["generations"] == 20
        # The table's final reward is the trainer's own per-step rewards over the last 10 generations.
        per_step = 20 // steps
        last_steps = step_rewards[-(10 // per_step) :]
        assert abs(run["final_reward"] - sum(last_steps) / len(last_steps)) < 1e-4
        assert run["entropy_at_end"] == history[-2]["entropy"]
        assert f"| {arm} | 0 | {run['final_reward']:.1f} |" in table


AGENT_CONFIGS = REPO_ROOT / "recipes" / "configs" / "calculator"


def transcript(*steps) -> str:
    """A rollout's messages as the completions log holds them: (tool, arguments, result) for a call, str for an answer."""
    messages = []
    for step in steps:
        if isinstance(step, str):
            messages.append({"role": "assistant", "content": step})
        else:
            name, arguments, result = step
            messages += [
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}],
                },
                {"role": "tool", "name": name, "content": result},
            ]
    return json.dumps(messages)


def test_a_strategy_is_the_transcript_with_its_values_masked():
    one = transcript(("multiply", {"a": 6, "b": 63}, "378"), ("add", {"b": 56, "a": 378}, "434"), "The answer is 434.")
    other_task = transcript(("multiply", {"a": 2, "b": 3}, "6"), ("add", {"a": 6, "b": 1}, "7"), "The answer is 7.")
    assert strategy(one) == strategy(other_task) == "multiply(a, b) > add(a, b) > answer"
    assert strategy(
        transcript(("add", {"a": 1, "b": 2}, "3"), ("multiply", {"a": 3, "b": 4}, "12"), "The answer is 12.")
    ) != strategy(one)  # the order of the calls is part of the strategy
    assert strategy(transcript("The answer is 44.")) == strategy(transcript("I could not open it.")) == "answer"
    assert (
        strategy(transcript(("read_drawer", {"drawer": 4}, "548"), ("unlock", {"code": 548}, "open")))
        == "read_drawer(drawer) > unlock(code)"
    )  # ended without a word


@pytest.mark.slow
def test_agent_sweep_reads_held_out_success_tool_use_and_strategies_from_its_runs(tool_model_dir, tmp_path):
    """Two arms (REINFORCE, one rollout per task; leave-one-out PPO, each batch used for two steps), two seeds,
    two batches of 64 rollouts each, two runs at a time, each trained model then rolled out twice on every held-out
    task: every number in the table comes from the runs' logs and evaluations."""
    output_dir, table, rows = run_sweep(
        tmp_path,
        "success_vs_rollouts.png",
        "--study",
        "agents",
        "--configs",
        str(AGENT_CONFIGS / "reinforce.yaml"),
        str(AGENT_CONFIGS / "loo_ppo.yaml"),
        "--seeds",
        "0",
        "1",
        "--generations",
        "128",
        "--eval_every",
        "64",
        "--window",
        "64",
        "--held_out_samples",
        "2",
        "--model_name_or_path",
        str(tool_model_dir),
    )
    assert [row.split("|")[1].strip() for row in rows[1:]] == [
        "reinforce",
        "reinforce",
        "**reinforce**",
        "loo_ppo",
        "loo_ppo",
        "**loo_ppo**",
    ]
    assert "rollouts to 90% held-out" in rows[0] and "successful strategies" in rows[0]
    assert "held-out at 128 | held-out at 128 | held-out at 128 | held-out pass@1 | held-out pass@2" in rows[0]

    results = json.loads((output_dir / "results.json").read_text())["results"]["calculator"]
    for arm, eval_steps in [("reinforce", [0, 1, 2]), ("loo_ppo", [0, 2, 4])]:
        for seed, run in zip([0, 1], results[arm]["runs"]):
            run_dir = output_dir / arm / f"seed-{seed}"
            history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
            records = [json.loads(line) for line in open(run_dir / "completions.jsonl")]
            assert len(records) == run["generations"] == 128  # the same rollout budget, whatever the steps per batch
            evals = [entry for entry in history if "eval_reward" in entry]
            assert [entry["step"] for entry in evals] == eval_steps
            assert run["curve"] == [
                [0, evals[0]["eval_reward"]],
                [64, evals[1]["eval_reward"]],
                [128, evals[2]["eval_reward"]],
            ]
            assert (run["held_out_before"], run["held_out_after"]) == (
                evals[0]["eval_reward"],
                evals[-1]["eval_reward"],
            )
            last_batch = [entry for entry in history if "reward" in entry and "eval_reward" not in entry][-1]
            assert run["tool_calls_per_rollout"] == last_batch["tools/call_frequency"]
            last = records[-64:]
            successful = [record["completion"] for record in last if record["reward"] == 1.0]
            assert run["training_success"] == len(successful) / 64
            assert run["distinct_successful_transcripts"] == len(set(successful))
            strategies = [strategy(record["completion"]) for record in last]
            assert (
                run["top_strategy_share"]
                == strategies.count(run["top_strategy"]) / 64
                == max(strategies.count(s) for s in strategies) / 64
            )
            # The budgets are the second and fourth evaluation, at most the whole budget: here its end.
            assert run["held_out_early"] == run["held_out_mid"] == run["held_out_after"] == evals[2]["eval_reward"]
            # The trained model's two rollouts of each of the 100 held-out tasks, every one logged with its task.
            figures = json.loads((run_dir / "held_out_pass_at_k.json").read_text())["results"][0]
            assert (run["pass@1"], run["pass@k"]) == (figures["pass@1"], figures["pass@2"])
            samples = [json.loads(line) for line in open(run_dir / "held_out_samples.jsonl")]
            assert len(samples) == 200 and run["pass@1"] == sum(r["reward"] == 1.0 for r in samples) / 200
            assert [sample["task"] for sample in samples] == [task for task in range(100) for _ in range(2)]
            solved = {}
            for sample in samples:
                if sample["reward"] == 1.0:
                    solved.setdefault(sample["task"], set()).add(strategy(json.dumps(sample["completion"])))
            assert run["strategies_per_solved_task"] == (
                sum(map(len, solved.values())) / len(solved) if solved else 0.0
            )
            assert all(record["prompt"][-1]["role"] == "user" for record in records)
            cells = [run[name] for name in ("held_out_before", "held_out_early", "held_out_mid", "held_out_after")]
            cells += [run["pass@1"], run["pass@k"], run["strategies_per_solved_task"]]
            assert (
                f"| {arm} | {seed} | " + " | ".join(f"{cell:.2f}" for cell in cells) + " | never |" in table
                or run["rollouts_to_90pct"] is not None
            )
        after = sorted(run["held_out_after"] for run in results[arm]["runs"])
        assert results[arm]["summary"]["held_out_after"] == {"median": sum(after) / 2, "min": after[0], "max": after[1]}
