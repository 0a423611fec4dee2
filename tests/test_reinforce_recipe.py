import json

import pytest

from tests.conftest import assert_succeeded, launch, logged_rewards, run_script


def logged(output_dir, key):
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry[key] for entry in history if key in entry}


@pytest.mark.slow
def test_reinforce_recipe_with_one_generation_per_prompt_raises_the_a_word_reward(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "reinforce"
    result = launch(
        "reinforce.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--baseline",
        "batch_mean",
        "--per_device_train_batch_size",
        "10",
        "--optim",
        "adamw_torch",
        "--learning_rate",
        "1e-3",
        "--max_steps",
        "15",
        "--seed",
        "0",
    )
    assert_succeeded(result)
    rewards = logged_rewards(output_dir)
    assert len(rewards) == 15
    # One completion for each of 10 prompts a step. Over 15 runs (8 seeds on this CPU's arithmetic, 7 under
    # MKL_CBWR=COMPATIBLE, each with its own tiny model) the first 3 steps averaged 8.0-10.1 a-words and steps
    # 13-15 rose over them by 16.1 to 90.4 (median 52.0): REINFORCE's rise varies far more than RLOO's.
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert first < 20 and last > first + 10, (first, last)


@pytest.mark.slow
def test_resume_skips_a_torn_checkpoint_and_restores_the_moving_average_baseline(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "resume"
    common = [
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--baseline",
        "moving_average",
        "--max_steps",
        "8",
        "--max_completion_length",
        "20",
        "--save_strategy",
        "steps",
        "--save_steps",
        "4",
    ]
    assert_succeeded(run_script("reinforce.py", *common))
    uninterrupted = logged(output_dir, "baseline")
    saved = json.loads((output_dir / "checkpoint-4" / "reinforce_baseline.json").read_text())["value"]

    # A save killed before its last file: checkpoint-8 has no trainer_state.json.
    (output_dir / "checkpoint-8" / "trainer_state.json").unlink()
    result = run_script("reinforce.py", *common, "--resume_from_checkpoint", "true")
    assert_succeeded(result)
    assert f"Resuming from {output_dir / 'checkpoint-4'}: skipped {output_dir / 'checkpoint-8'}" in result.stderr
    resumed = logged(output_dir, "baseline")
    # Step 5 subtracts the average of steps 1-4, restored from the checkpoint, not a fresh start.
    assert resumed[5] == saved == uninterrupted[5]
    # A fresh baseline would have started at step 5's own mean reward.
    assert resumed[5] != logged(output_dir, "reward")[5]


@pytest.mark.slow
def test_reinforce_trains_a_lora_adapter(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "lora"
    result = run_script(
        "reinforce.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--use_peft",
        "true",
        "--lora_target_modules",
        "q_proj",
        "v_proj",
        "--max_steps",
        "3",
    )
    assert_succeeded(result)
    assert (output_dir / "adapter_model.safetensors").is_file()
    assert not (output_dir / "model.safetensors").exists()


@pytest.mark.slow
def test_reinforce_runs_on_two_processes(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "ddp"
    result = launch(
        "reinforce.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--baseline",
        "batch_mean",
        "--max_steps",
        "3",
        "--max_completion_length",
        "30",
        processes=2,
    )
    assert_succeeded(result)
    # One completion per process per step, gathered: the batch-mean baseline sees both.
    assert len(logged(output_dir, "baseline")) == 3
