import pytest

from rewards import REWARD_FUNCS, UnknownRewardError, a_words, get_reward_func, get_reward_funcs
from rewards.a_words import count_a_words
from tests.conftest import run_script


@pytest.mark.parametrize(
    "text, expected",
    [
        ('apple An "and', 3),
        ("banana", 0),
        ("", 0),
        ("a a a", 3),
        ("Once upon a time, an ant ate", 4),
        ("(apple) 'avocado' —art «alpha»", 4),
        ("cat hat bat", 0),
        ("  a\tb\na  ", 2),
        ("...", 0),
        ("ba ab", 1),
    ],
)
def test_count_a_words_counts_words_starting_with_a_after_leading_punctuation(text, expected):
    assert count_a_words(text) == expected


def test_a_words_returns_one_float_per_completion():
    assert a_words(prompts=["p", "p"], completions=["an apple", "banana"]) == [2.0, 0.0]


def test_a_words_reads_conversational_completions():
    completions = [[{"role": "assistant", "content": "Anna ate an apple"}]]
    assert a_words(prompts=[[{"role": "user", "content": "hi"}]], completions=completions) == [4.0]


def test_registry_resolves_short_names():
    assert get_reward_func("a_words") is a_words
    assert "a_words" in REWARD_FUNCS


def test_dotted_path_loads_a_reward_from_user_code():
    brevity = get_reward_func("tests.custom_rewards.brevity")
    assert brevity(completions=["one two", "one"]) == [-2.0, -1.0]
    assert get_reward_funcs(["a_words", "tests.custom_rewards.brevity"])[1] is brevity


def test_unknown_name_error_lists_valid_names():
    with pytest.raises(UnknownRewardError, match="Unknown reward 'nope'.*a_words"):
        get_reward_func("nope")


@pytest.mark.parametrize(
    "name, message",
    [
        ("no_such_pkg.module.fn", "cannot import module 'no_such_pkg.module'"),
        ("tests.custom_rewards.missing", "has no attribute 'missing'"),
        ("tests.custom_rewards.NOT_A_FUNCTION", "is a int, not a function"),
    ],
)
def test_bad_dotted_paths_fail_with_the_reason(name, message):
    with pytest.raises(UnknownRewardError, match=message):
        get_reward_func(name)


@pytest.mark.slow
def test_recipe_rejects_unknown_reward_with_one_line_before_loading_anything():
    result = run_script("rloo.py", "--reward_funcs", "a_words", "nope", "--model_name_or_path", "does/not/matter")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: Unknown reward 'nope': use one of a_words")
    assert "Traceback" not in result.stderr
