import json
import signal
import sys
from collections import Counter, defaultdict

import pytest

from tests.conftest import REPO_ROOT, assert_succeeded, launch, logged_rewards
from tests.test_reliability import running_recipe, signal_after_steps


@pytest.mark.slow
def test_two_process_launch_trains_and_scores_each_prompt_group_whole(tiny_model_dir, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ["Once upon a time", "One day", "Lily"]))
    calls_log = tmp_path / "calls.jsonl"
    output_dir = tmp_path / "ddp"
    result = launch(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--dataset_name",
        str(prompts),
        "--reward_funcs",
        "tests.custom_rewards.recorded_a_words",
        "--per_device_train_batch_size",
        "10",
        "--max_steps",
        "3",
        "--max_completion_length",
        "30",
        processes=2,
        env={"REWARD_CALLS_LOG": str(calls_log)},
    )
    assert_succeeded(result)
    assert len(logged_rewards(output_dir)) == 3
    # The main process alone prints the summary and draws the picture.
    assert result.stdout.count("=== Summary ===") == 1 and (output_dir / "curves.png").is_file()

    calls = [json.loads(line) for line in calls_log.read_text().splitlines()]
    assert {call["rank"] for call in calls} == {0, 1}
    prompts_by_step = defaultdict(Counter)
    for call in calls:
        prompts_by_step[call["step"]].update(call["prompts"])
    assert len(prompts_by_step) == 3
    for step, counts in prompts_by_step.items():
        # 2 processes x 10 completions = 2 prompts per step, each with its full group of 10 generations.
        assert sorted(counts.values()) == [10, 10], (step, counts)


TWO_PROCESS_QUICK = [
    "--num_generations",
    "2",
    "--per_device_train_batch_size",
    "2",
    "--max_completion_length",
    "8",
    "--report_to",
    "none",
]


@pytest.mark.slow
def test_reward_fault_on_two_processes_saves_the_last_step_and_both_processes_end(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "out"
    result = launch(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        *TWO_PROCESS_QUICK,
        "--reward_funcs",
        "tests.custom_rewards.fails_from_step_3",
        "--max_steps",
        "5",
        processes=2,
        timeout=300,
    )
    assert result.returncode != 0
    assert "error: Reward 'tests.custom_rewards.fails_from_step_3' raised ValueError" in result.stderr
    assert json.loads((output_dir / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2


@pytest.mark.slow
def test_ctrl_c_on_two_processes_stops_both_at_the_same_step_with_a_checkpoint(tiny_model_dir, tmp_path):
    """Ctrl-C reaches the launcher, which passes it on to the workers (each in a session of its own): one agreed stop."""
    output_dir = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--mixed_precision",
        "no",
        str(REPO_ROOT / "recipes" / "rloo.py"),
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        *TWO_PROCESS_QUICK,
        "--max_steps",
        "200",
        "--use_cpu",
        "true",
        "--console_metrics",
        "all",  # a line per step
    ]
    with running_recipe(command) as process:
        output = signal_after_steps(process, signal.SIGINT, steps=2)
    assert process.returncode != 0
    assert output.count("Stopped by signal 2 after step") == 1, output[-3000:]
    assert "ending now" not in output
    checkpoints = list(output_dir.glob("checkpoint-*"))
    assert len(checkpoints) == 1
    step = int(checkpoints[0].name.split("-")[1])
    assert f"Stopped by signal 2 after step {step};" in output
    assert json.loads((checkpoints[0] / "trainer_state.json").read_text())["global_step"] == step
