"""Which checkpoint `--resume_from_checkpoint` resumes from, torn checkpoints (interrupted saves) included."""

import pytest

from rl_recipes.checkpoints import resolve_resume
from rl_recipes.checks import RecipeError
from rl_recipes.runner.assembly import resolve_resume_checkpoint
from rl_recipes.runner.cli import parse_args
from tests.conftest import REPO_ROOT


def checkpoint(output_dir, step, complete=True):
    path = output_dir / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_text("")
    if complete:
        (path / "trainer_state.json").write_text("{}")
    return path


def test_true_resumes_from_the_newest_complete_checkpoint_and_names_the_torn_one(tmp_path):
    checkpoint(tmp_path, 2)
    complete = checkpoint(tmp_path, 4)
    torn = checkpoint(tmp_path, 6, complete=False)
    assert resolve_resume("true", str(tmp_path)) == (str(complete), [torn])
    assert resolve_resume(True, str(tmp_path)) == (str(complete), [torn])


@pytest.mark.parametrize("value", [None, "", "false", "False", False])
def test_false_or_nothing_means_no_resume(tmp_path, value):
    checkpoint(tmp_path, 2)
    assert resolve_resume(value, str(tmp_path)) == (None, [])


def test_false_from_the_command_line_starts_afresh():
    _, training_args, _ = parse_args(*reinforce_recipe(), ["--resume_from_checkpoint", "false"])
    resolve_resume_checkpoint(training_args)
    assert training_args.resume_from_checkpoint is None


def reinforce_recipe():
    from rl_recipes.trainers.reinforce import ReinforceConfig

    return ReinforceConfig, REPO_ROOT / "recipes" / "configs" / "a_words" / "reinforce.yaml"


@pytest.mark.parametrize(
    "setup, value, message",
    [
        (lambda d: None, "true", "holds no complete checkpoint: give a checkpoint's path"),
        (lambda d: checkpoint(d, 3, complete=False), "true", "holds no complete checkpoint (checkpoint-3 incomplete"),
        (lambda d: None, "{d}/checkpoint-9", "checkpoint-9 does not exist: check --resume_from_checkpoint"),
        (lambda d: checkpoint(d, 3, complete=False), "{d}/checkpoint-3", "checkpoint-3 is incomplete"),
    ],
    ids=["true, nothing saved", "true, only a torn one", "missing path", "torn path"],
)
def test_a_resume_that_cannot_work_is_one_clear_error(tmp_path, setup, value, message):
    setup(tmp_path)
    with pytest.raises(RecipeError, match=message.replace("(", r"\(")):
        resolve_resume(value.format(d=tmp_path), str(tmp_path))


@pytest.mark.slow
def test_a_run_over_an_earlier_one_moves_its_checkpoints_aside_so_resume_finds_this_runs_only(tiny_model_dir, tmp_path):
    import json

    from tests.conftest import assert_succeeded, run_script

    output_dir = tmp_path / "out"
    common = [
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--max_completion_length",
        "8",
        "--num_generations",
        "2",
        "--per_device_train_batch_size",
        "2",
        "--save_strategy",
        "steps",
        "--report_to",
        "none",
    ]
    assert_succeeded(run_script("rloo.py", *common, "--max_steps", "4", "--save_steps", "4"))  # run 1: checkpoint-4
    # Run 2 overwrites the directory and is cut short at step 2 (as if killed there); resumed, it must go on to step 4.
    second = run_script("rloo.py", *common, "--max_steps", "2", "--save_steps", "2", "--overwrite_output_dir", "true")
    assert_succeeded(second)
    moved_to = next((output_dir / "earlier_checkpoints").iterdir())
    assert f"Moved the earlier run's checkpoints (checkpoint-4) to {moved_to}" in second.stderr
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    resumed = run_script(
        "rloo.py", *common, "--max_steps", "4", "--save_steps", "2", "--resume_from_checkpoint", "true"
    )
    assert_succeeded(resumed)
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    assert [entry["step"] for entry in history if "reward" in entry] == [1, 2, 3, 4]  # steps 3 and 4 trained now
    # The earlier run's checkpoint is kept whole, where the message said.
    assert json.loads((moved_to / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
