"""TRL's reward contract, whole: async rewards, the return types TRL accepts, the keywords it passes,
TRL's own reward names, and data set columns that would replace a reward's settings."""

import asyncio
import functools
import json

import numpy as np
import pytest
import torch
import trl.rewards

from rewards import UnknownRewardError, get_reward_funcs
from rl_recipes.checks import RecipeError, check_reward_settings
from rl_recipes.trainers.reward_guard import AsyncGuardedReward, GuardedReward, guard_rewards
from tests.conftest import assert_succeeded, run_script


def guarded(func):
    (reward,) = guard_rewards([func], [func.__name__])
    return reward


# --- the guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [1, 2.5, None],
        (1, 2.5, None),
        [np.int64(1), np.float32(2.5), None],
        [torch.tensor(1), torch.tensor(2.5), None],
        np.array([1, 2.5, None], dtype=object),
    ],
)
def test_the_guard_accepts_lists_tuples_and_arrays_of_numbers_or_none(values):
    reward = guarded(lambda completions, **kwargs: values)
    assert reward(prompts=["p"] * 3, completions=["a", "b", "c"]) == [1.0, 2.5, None]
    assert reward.faults == []


@pytest.mark.parametrize(
    "values",
    [
        [True, False, None],
        (True, False, None),
        np.array([True, False, None], dtype=object),
        [np.bool_(True), np.bool_(False), None],
    ],
)
def test_the_guard_reads_booleans_as_trl_does_one_and_zero(values):
    reward = guarded(lambda completions, **kwargs: values)
    assert reward(prompts=["p"] * 3, completions=["a", "b", "c"]) == [1.0, 0.0, None]
    assert reward.faults == []


@pytest.mark.parametrize("values", [np.array([True, False, True]), torch.tensor([True, False, True])])
def test_the_guard_reads_boolean_arrays_as_ones_and_zeros(values):
    reward = guarded(lambda completions, **kwargs: values)
    assert reward(prompts=["p"] * 3, completions=["a", "b", "c"]) == [1.0, 0.0, 1.0]
    assert reward.faults == []


@pytest.mark.parametrize(
    "values",
    [
        np.array([1, 2, 3]),
        np.array([1.0, 2.0, 3.0], dtype=np.float32),
        torch.tensor([1, 2, 3]),
        torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16),
    ],
)
def test_the_guard_reads_numpy_arrays_and_torch_tensors_as_their_values(values):
    reward = guarded(lambda completions, **kwargs: values)
    assert reward(prompts=["p"] * 3, completions=["a", "b", "c"]) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "values, fault",
    [
        (np.array([1.0, np.nan, 3.0]), "returned nan for completion 'b'"),
        (torch.tensor([1.0, float("inf"), 3.0]), "returned inf for completion 'b'"),
        (np.array([1.0, 2.0]), "returned 2 values for 3 completions"),
        (np.ones((3, 1)), "returned an array of shape (3, 1) for 3 completions"),
        (torch.tensor(1.0), "returned an array of shape () for 3 completions"),
        ({"a": 1.0}, "returned dict values for 3 completions"),
        (np.array(["x", "y", "z"]), "returned a non-number (str 'x') for completion 'a'"),
    ],
)
def test_the_guard_turns_bad_arrays_into_faults(values, fault):
    reward = guarded(lambda completions, **kwargs: values)
    scores = reward(prompts=["p"] * 3, completions=["a", "b", "c"])
    assert None in scores and reward.faults[0].startswith(fault)


async def async_scores(completions, trainer_state, **kwargs):
    await asyncio.sleep(0)
    if trainer_state == "raise":
        raise ConnectionError("judge unreachable")
    return np.array([float(len(c)) for c in completions]) if trainer_state == "array" else [None, float("nan")]


def test_an_async_reward_stays_async_and_its_faults_are_caught():
    reward = guarded(async_scores)
    assert isinstance(reward, AsyncGuardedReward) and asyncio.iscoroutinefunction(reward.__call__)
    assert asyncio.run(reward(prompts=["p", "p"], completions=["ab", "c"], trainer_state="array")) == [2.0, 1.0]
    assert asyncio.run(reward(prompts=["p", "p"], completions=["ab", "c"], trainer_state="nan")) == [None, None]
    assert reward.faults == ["returned nan for completion 'c'"]
    assert asyncio.run(reward(prompts=["p", "p"], completions=["ab", "c"], trainer_state="raise")) == [None, None]
    assert reward.faults[0] == "raised ConnectionError: judge unreachable (first completion: 'ab')"


def test_an_async_reward_with_bound_settings_stays_async():
    (bound,) = guard_rewards([functools.partial(async_scores, trainer_state="array")], ["my_rewards.async_scores"])
    assert isinstance(bound, AsyncGuardedReward)
    assert asyncio.run(bound(prompts=["p"], completions=["abc"])) == [3.0]


def test_a_synchronous_wrapper_returning_a_coroutine_is_a_fault_that_says_to_use_async_def():
    reward = guarded(lambda completions, **kwargs: async_scores(completions, trainer_state="array"))
    assert type(reward) is GuardedReward
    assert reward(prompts=["p"], completions=["a"]) == [None]
    assert "returned a coroutine" in reward.faults[0] and "async def" in reward.faults[0]


# --- TRL's reward names --------------------------------------------------------------------------


def test_trl_reward_names_resolve_to_trl_functions_and_read_text_completions():
    accuracy, think, overlong = get_reward_funcs(
        ["accuracy_reward", "think_format_reward", "get_soft_overlong_punishment"]
    )
    assert accuracy.__wrapped__ is trl.rewards.accuracy_reward and think.__wrapped__ is trl.rewards.think_format_reward
    text = ["<think>8 x 9</think> so \\boxed{72}", "\\boxed{71}"]
    chat = [[{"role": "assistant", "content": c}] for c in text]
    for completions in (text, chat):
        assert accuracy(prompts=["q", "q"], completions=completions, solution=["72", "72"]) == [1.0, 0.0]
        assert think(prompts=["q", "q"], completions=completions) == [1.0, 0.0]
    # trl rloo's defaults: no penalty up to 1280 - 256 tokens, -1 past 1280
    assert overlong(completion_ids=[[1] * 1024, [1] * 1152, [1] * 1281]) == [0.0, -0.5, -1.0]


def test_a_factorys_parameters_are_settings_checked_like_any_other():
    (overlong,) = get_reward_funcs(
        ["get_soft_overlong_punishment"],
        {"get_soft_overlong_punishment": {"max_completion_len": 8, "soft_punish_cache": 4}},
    )
    assert overlong(completion_ids=[[1] * 4, [1] * 6, [1] * 9]) == [0.0, -0.5, -1.0]
    with pytest.raises(
        UnknownRewardError, match="has no setting 'max_len': it takes max_completion_len, soft_punish_cache"
    ):
        get_reward_funcs(["get_soft_overlong_punishment"], {"get_soft_overlong_punishment": {"max_len": 8}})
    with pytest.raises(UnknownRewardError, match="soft_punish_cache \\(16\\) must be between 0"):
        get_reward_funcs(
            ["get_soft_overlong_punishment"],
            {"get_soft_overlong_punishment": {"max_completion_len": 8, "soft_punish_cache": 16}},
        )


# --- data set columns against settings -----------------------------------------------------------


def test_a_column_named_like_a_bound_setting_stops_the_run_naming_column_reward_and_fix():
    funcs = get_reward_funcs(["format"], {"format": {"pattern": "a+"}})
    with pytest.raises(RecipeError) as error:
        check_reward_settings(funcs, ["format"], ["prompt", "pattern"])
    message = str(error.value)
    assert "column 'pattern'" in message and "reward 'format'" in message
    assert "rename the column, or drop the setting" in message


def test_a_column_named_like_a_bound_setting_of_a_users_reward_is_refused_too():
    name = "tests.custom_rewards.brevity"
    funcs = get_reward_funcs([name], {name: {}})
    check_reward_settings(funcs, [name], ["prompt", "unit"])  # nothing bound, nothing replaced
    funcs = [functools.partial(funcs[0], unit="words")]
    with pytest.raises(RecipeError, match=f"column 'unit' would replace the setting 'unit' .* reward '{name}'"):
        check_reward_settings(funcs, [name], ["prompt", "unit"])


def test_a_column_named_like_a_registry_rewards_default_setting_is_refused():
    with pytest.raises(
        RecipeError, match="column 'unit' would replace the setting 'unit' of reward 'length'.*rename the column"
    ):
        check_reward_settings(get_reward_funcs(["length"]), ["length"], ["prompt", "unit"])


def test_a_column_a_reward_needs_must_be_in_the_data_set():
    with pytest.raises(
        RecipeError, match="Reward 'accuracy_reward' reads the data set column 'solution', which this data set lacks"
    ):
        check_reward_settings(get_reward_funcs(["accuracy_reward"]), ["accuracy_reward"], ["prompt", "answer"])
    check_reward_settings(get_reward_funcs(["accuracy_reward"]), ["accuracy_reward"], ["prompt", "solution"])


@pytest.mark.slow
def test_the_recipe_refuses_a_colliding_column_with_one_line(tmp_path):
    dataset = tmp_path / "prompts.jsonl"
    dataset.write_text('{"prompt": "Once upon a time", "pattern": "x"}\n')
    unloadable_model = tmp_path / "not-a-model"  # stops the run if it gets as far as loading
    unloadable_model.mkdir()
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(unloadable_model),
        "--output_dir",
        str(tmp_path / "out"),
        "--dataset_name",
        str(dataset),
        "--reward_funcs",
        "format",
        "--reward_kwargs",
        '{"format": {"pattern": "a"}}',
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: The data set column 'pattern' would replace")


# --- through the recipe --------------------------------------------------------------------------


def logged(output_dir, key):
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [entry[key] for entry in history if key in entry]


@pytest.mark.slow
def test_rloo_trains_on_an_async_reward_and_on_array_returning_rewards(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "out"
    names = ["async_a_words", "a_words_array", "a_words_tensor"]
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--reward_funcs",
        *[f"tests.custom_rewards.{name}" for name in names],
        "--max_steps",
        "2",
        "--max_completion_length",
        "10",
    )
    assert_succeeded(result)
    # The same a-word counts, returned as a list of ints (awaited), a numpy array and a torch tensor.
    means = [logged(output_dir, f"rewards/{name}/mean") for name in names]
    assert len(means[0]) == 2 and means[0] == means[1] == means[2]
    assert all(isinstance(mean, float) and mean > 0 for mean in means[0]), means  # scores, not None (nothing scored)
    assert logged(output_dir, "async_a_words/off_main_thread") == [1.0, 1.0]


@pytest.mark.slow
def test_rloo_trains_on_trl_reward_names_with_a_factorys_settings(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "out"
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--reward_funcs",
        "think_format_reward",
        "get_soft_overlong_punishment",
        "--reward_kwargs",
        '{"get_soft_overlong_punishment": {"max_completion_len": 6, "soft_punish_cache": 2}}',
        "--max_steps",
        "1",
        "--max_completion_length",
        "10",
    )
    assert_succeeded(result)
    assert logged(output_dir, "rewards/think_format_reward/mean") == [0.0]  # the story model writes no <think>
    # Stories run past 6 tokens: penalised, where trl rloo's default limit of 1280 tokens would give 0.
    assert logged(output_dir, "rewards/get_soft_overlong_punishment/mean")[0] < 0
