import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

CONFIGS = REPO_ROOT / "recipes" / "configs" / "a_words"


def test_two_run_sweep_writes_plot_table_and_numbers_that_match_the_runs_logs(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "sweep"
    command = [
        sys.executable, str(REPO_ROOT / "scripts" / "compare.py"),
        "--configs", str(CONFIGS / "reinforce.yaml"), str(CONFIGS / "rloo.yaml"), "--seeds", "0",
        "--generations", "20", "--window", "10", "--model_name_or_path", str(tiny_model_dir),
        "--max_completion_length", "30", "--output_dir", str(output_dir),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]

    png = (output_dir / "reward_vs_generations.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    table = (output_dir / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header == [
        "recipe", "seed", "final reward (last 10)", "best reward", "generations to 90%",
        "entropy at end", "distinct of last 50", "train time (s)",
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
        last_steps = step_rewards[-(10 // per_step):]
        assert abs(run["final_reward"] - sum(last_steps) / len(last_steps)) < 1e-4
        assert run["entropy_at_end"] == history[-2]["entropy"]
        assert f"| {arm} | 0 | {run['final_reward']:.1f} |" in table
