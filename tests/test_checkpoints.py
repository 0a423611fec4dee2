"""Which checkpoint `--resume_from_checkpoint` resumes from, torn checkpoints (interrupted saves) included."""

import pytest

from rl_recipes.checks import RecipeError
from rl_recipes.checkpoints import resolve_resume
from rl_recipes.runner import parse_args, resolve_resume_checkpoint
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
