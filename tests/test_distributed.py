import json
from collections import Counter, defaultdict

from tests.conftest import assert_succeeded, launch, logged_rewards


def test_two_process_launch_trains_and_scores_each_prompt_group_whole(tiny_model_dir, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ["Once upon a time", "One day", "Lily"]))
    calls_log = tmp_path / "calls.jsonl"
    output_dir = tmp_path / "ddp"
    result = launch(
        "rloo.py", "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(output_dir),
        "--dataset_name", str(prompts), "--reward_funcs", "tests.custom_rewards.recorded_a_words",
        "--per_device_train_batch_size", "10", "--max_steps", "3", "--max_completion_length", "30",
        processes=2, env={"REWARD_CALLS_LOG": str(calls_log)},
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
