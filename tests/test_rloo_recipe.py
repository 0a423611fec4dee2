import json

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import assert_succeeded, launch, logged_rewards, run_script

SHORT_RUN = ["--max_steps", "20", "--seed", "0"]


@pytest.mark.slow
def test_rloo_recipe_raises_the_a_word_reward_and_saves_everything(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "rloo"
    result = launch("rloo.py", "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(output_dir), *SHORT_RUN)
    assert_succeeded(result)

    rewards = logged_rewards(output_dir)
    assert len(rewards) == 20
    # The tiny model starts near 8 a-words. Over 32 runs (8 seeds, each on 4 CPU arithmetics that build different
    # tiny models) the first 3 steps averaged at most 10.2 and steps 18-20 rose over them by at least 43.5.
    assert sum(rewards[:3]) / 3 < 20
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 25

    trained = load_file(output_dir / "model.safetensors")
    base = load_file(tiny_model_dir / "model.safetensors")
    assert any(not torch.equal(trained[name], base[name]) for name in base)
    for name in ["config.json", "tokenizer.json", "trainer_state.json", "samples.jsonl"]:
        assert (output_dir / name).is_file(), name
    samples = [json.loads(line) for line in (output_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 10 and {"prompt", "completion", "a_words"} <= samples[0].keys()
    assert list((output_dir / "runs").rglob("events.out.tfevents.*")), "tensorboard logs missing"
    assert "=== Summary ===" in result.stdout and str(output_dir) in result.stdout


@pytest.mark.slow
def test_rloo_recipe_refuses_an_output_directory_that_holds_files(tiny_model_dir, tmp_path):
    (tmp_path / "checkpoint.txt").write_text("someone's work")
    result = run_script("rloo.py", "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: Output directory {tmp_path} already holds files")
    assert "Traceback" not in result.stderr
    assert (tmp_path / "checkpoint.txt").read_text() == "someone's work"
