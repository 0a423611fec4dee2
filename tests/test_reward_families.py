"""The registered reward families on literal inputs: maths answers, format, length, repetition, a reward model.

Each is called as TRL calls it, with keyword arguments, extra dataset columns among them; the
reward model is the stand-in DistilBERT classifier, built once for the module.
"""

import threading

import pytest

from rewards import REWARD_FACTORIES, REWARD_FUNCS, UnknownRewardError, get_reward_funcs
from rewards.format import format_reward
from rewards.length import get_repetition_penalty, length_penalty
from rewards.math_accuracy import math_accuracy
from rewards.reward_model import load_reward_model, reward_model
from tests.stand_ins import build_classifier


def test_every_family_is_registered_by_its_short_name():
    assert REWARD_FUNCS["math_accuracy"] is math_accuracy
    assert REWARD_FUNCS["format"] is format_reward
    assert REWARD_FUNCS["length"] is length_penalty
    assert REWARD_FACTORIES["repetition"] is get_repetition_penalty
    assert REWARD_FUNCS["reward_model"] is reward_model


# --- math_accuracy -------------------------------------------------------------------------------

GSM8K_SOLUTION = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72"

# (completion, reference, whether a person marking the answer would call it right), written by hand.
HAND_LABELLED = [
    # the <answer> layout of the GSM8K recipe: the last block is the answer, whatever surrounds it
    ("<think>48/2 = 24 in May, 48 + 24 = 72</think>\n<answer>72</answer>", GSM8K_SOLUTION, True),
    ("<answer>72</answer> (that is 8 x 9)", "#### 72", True),
    ("<think>72</think><answer></answer>", "#### 72", False),
    ("<think>so 72</think><answer>71</answer>", GSM8K_SOLUTION, False),
    ("<answer>70</answer> No, wait: <answer>72</answer>", "#### 72", True),
    ("<answer>72</answer> No, wait: <answer>70</answer>", "#### 72", False),
    ("<answer> 18 </answer>", "#### 18", True),
    ("<answer>1 1/2</answer>", "#### 1.5", True),
    ("<answer>1/2</answer>", "#### 1.5", False),
    ("<answer>$1,000</answer>", "#### 1000", True),
    ("<answer>\\$18.00</answer>", "#### 18", True),
    ("<answer>72 dollars</answer>", "#### 72", True),
    ("<answer>\\frac{3}{4}</answer>", "#### 0.75", True),
    ("<answer>3/4</answer>", "\\boxed{\\frac{3}{4}}", True),
    ("<answer>0.75</answer>", "3/4", True),
    ("<answer>50%</answer>", "#### 50", True),
    ("<answer>x = 5</answer>", "5", True),
    ("<answer>10^{3}</answer>", "1000", True),
    ("<answer>-3</answer>", "#### 3", False),
    # MATH-style \boxed{} answers: the last box counts
    ("48 + 24 = 72, so the answer is \\boxed{72}.", GSM8K_SOLUTION, True),
    ("First \\boxed{1}, then \\boxed{\\frac{1}{2}} on reflection.", "1/2", True),
    ("\\boxed{72} was my first guess, but \\boxed{70}", "72", False),
    ("\\boxed{-\\dfrac{1}{2}}", "-0.5", True),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\dfrac{\\sqrt{3}}{2}", True),
    ("So the diagonal is \\boxed{2\\sqrt{2}}.", "2\\sqrt{2}", True),
    ("\\boxed{2}", "2\\sqrt{2}", False),
    ("\\boxed{(1, 2)}", "(1,2)", True),
    ("\\boxed{(1, 3)}", "(1,2)", False),
    ("The set is \\boxed{\\{1, \\{2\\}\\}}.", "\\boxed{\\{1,\\{2\\}\\}}", True),
    ("\\boxed{72 \\text{ dollars}}", "72", True),
    ("\\boxed{1,234,567}", "1234567", True),
    ("\\boxed{1.50}", "#### 1.5", True),
    ("\\boxed{50\\%}", "50", True),
    # no marked answer: the last number
    ("She sold 72 clips in all.", "72", True),
    ("48/2 = 24 in May, and 48 + 24 = 72 in all.", GSM8K_SOLUTION, True),
    ("The total is $1,000.", "#### 1000", True),
    ("The temperature fell to -5 degrees.", "-5", True),
    ("She needs 2 1/2 cups of flour.", "#### 2.5", True),
    ("8 x 9 = 72, or is it 71?", "72", False),
    ("It is about 0.33 of it.", "1/3", False),
    ("I think it is 2.", "\\sqrt{2}", False),
    ("I am not sure.", "72", False),
    ("", "72", False),
    # hedging: the one final answer counts, never a right number elsewhere in the text
    ("The answer is 72, no wait, it is 70.", "72", False),  # math-verify alone prefers the anchored 72
    ("answer: $72$, or rather $70$", "72", False),
    ("I got 72. Final: 70", "72", False),
    ("It could be 72 or 70 or 68.", "72", False),
    ("It could be 68 or 70 or 72.", "72", True),
    ("48 + 24 = 72 clips. So she sold 71 clips.", GSM8K_SOLUTION, False),
    ("\\(72\\), then \\(70\\)", "70", True),
    ("She read pages 10-12.", "12", True),
    ("\\boxed{72}, \\boxed{70}", "72", False),
    ("<answer>the answer is 72, or maybe 70</answer>", "72", False),
    ("<answer>72 or 70</answer>", "70", True),
    ("<answer>72, 70</answer>", "72", False),
    ("<answer>72; 70</answer>", "72", False),
    ("<think>8 x 9 = 72</think><answer>71</answer> and 72 if you prefer", "72", False),
]


@pytest.mark.parametrize("completion, reference, right", HAND_LABELLED)
def test_math_accuracy_agrees_with_hand_marking(completion, reference, right):
    assert math_accuracy(prompts=["q"], completions=[completion], answer=[reference]) == [float(right)]


def test_math_accuracy_skips_samples_whose_reference_cannot_be_read():
    references = ["", None, "Long reasoning\nwithout a marked answer", "72"]
    assert math_accuracy(prompts=["q"] * 4, completions=["72"] * 4, answer=references) == [None, None, None, 1.0]


def test_math_accuracy_reads_numeric_references_and_conversational_completions():
    completions = [
        [{"role": "assistant", "content": "\\boxed{12}"}],
        [{"role": "assistant", "content": "<answer>0.5</answer>"}],
    ]
    assert math_accuracy(prompts=["q", "q"], completions=completions, answer=[12, 0.5]) == [1.0, 1.0]


def test_math_accuracy_scores_the_same_in_a_thread_where_math_verify_cannot_time_out():
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            math_accuracy(completions=["<answer>1 1/2</answer>", "\\boxed{3}"], answer=["1.5", "4"])
        )
    )
    thread.start()
    thread.join()
    assert results == [[1.0, 0.0]]


def test_math_accuracy_reads_the_reference_column_its_setting_names():
    scores = get_reward_funcs(["math_accuracy"], {"math_accuracy": {"answer_column": "solution"}})[0](
        prompts=["q"], completions=["\\boxed{7}"], solution=["#### 7"], trainer_state=None
    )
    assert scores == [1.0]


def test_math_accuracy_names_the_missing_column_and_those_present():
    with pytest.raises(ValueError, match="column 'answer'.*its other columns: level, solution"):
        math_accuracy(prompts=["q"], completions=["7"], solution=["7"], level=[1], trainer_state=None)


# --- format --------------------------------------------------------------------------------------


def test_format_rewards_think_then_answer_by_default():
    completions = [
        "<think>\n2 + 2 is 4\n</think>\n<answer>4</answer>\n",
        "<answer>4</answer>",
        "Sure! <think>hm</think><answer>4</answer>",
        "<think>hm</think><answer>4</answer> and more",
        "",
    ]
    assert format_reward(prompts=["q"] * 5, completions=completions) == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_format_takes_its_pattern_from_the_settings_and_reads_conversations():
    completions = [[{"role": "assistant", "content": "Answer: 42"}], [{"role": "assistant", "content": "42"}]]
    assert format_reward(prompts=["q", "q"], completions=completions, pattern=r"Answer: \d+") == [1.0, 0.0]


def test_format_rejects_an_invalid_pattern_naming_it():
    with pytest.raises(ValueError, match=r"pattern '\(unclosed' is not a valid regular expression"):
        format_reward(prompts=["q"], completions=["x"], pattern="(unclosed")


# --- length and repetition -----------------------------------------------------------------------


def test_length_is_zero_at_the_target_and_falls_by_the_penalty_per_word_either_side():
    completions = ["one two three", "one", "one two three four five", ""]
    scores = length_penalty(prompts=["q"] * 4, completions=completions, target_length=3, penalty=0.5)
    assert scores == [0.0, -1.0, -1.0, -1.5]


def test_length_counts_characters_or_the_tokens_trl_passes():
    assert length_penalty(completions=["abcd"], target_length=3, penalty=1.0, unit="characters") == [-1.0]
    scores = length_penalty(completions=["ignored", "x"], completion_ids=[[5, 6], [7]], target_length=2, unit="tokens")
    assert scores == [0.0, -0.01]


def test_length_rejects_an_unknown_unit():
    with pytest.raises(ValueError, match="unit 'lines' is not one of words, characters, tokens"):
        length_penalty(completions=["x"], unit="lines")


def test_repetition_is_zero_for_unique_tokens_and_negative_for_repeated_ones():
    completion_ids = [[1, 2, 3, 4, 5], [7, 8, 7, 8, 7, 8, 7, 8], [1, 2], []]
    scores = get_reward_funcs(["repetition"])[0](
        prompts=["q"] * 4, completions=["text"] * 4, completion_ids=completion_ids
    )
    # [7, 8, 7, 8, ...]: 6 trigrams, 2 distinct, so -(1 - 2/6); the last two are shorter than a trigram.
    assert scores == [0.0, pytest.approx(-2 / 3), 0.0, 0.0]


def test_repetition_takes_its_settings_and_refuses_a_negative_max_penalty():
    (repetition,) = get_reward_funcs(["repetition"], {"repetition": {"ngram_size": 1, "max_penalty": 0.5}})
    assert repetition(completions=["x"], completion_ids=[[3, 3, 3, 3, 3]]) == [pytest.approx(-0.4)]
    with pytest.raises(
        UnknownRewardError, match="Reward 'repetition': .*max_penalty is the size of the largest penalty"
    ):
        get_reward_funcs(["repetition"], {"repetition": {"max_penalty": -1.0}})
    with pytest.raises(UnknownRewardError, match="Reward 'repetition' has no setting 'size'"):
        get_reward_funcs(["repetition"], {"repetition": {"size": 2}})


# --- reward_model --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return str(build_classifier(tmp_path_factory.mktemp("classifier")))


TEXTS = ["Once upon a time", "a cat sat on the mat", "and then the end came after a long and happy day", "x"]


def own_logits(path: str, texts: list[str]):
    """The classifier's logits for each text on its own, without padding, loaded afresh."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    with torch.no_grad():
        return [model(**tokenizer(text, return_tensors="pt")).logits[0].tolist() for text in texts]


def test_reward_model_scores_each_completion_with_the_chosen_labels_logit(classifier_dir):
    settings = {"model_name_or_path": classifier_dir, "include_prompt": False}
    negative = reward_model(prompts=["p"] * 4, completions=TEXTS, score_label="NEGATIVE", **settings)
    positive = reward_model(prompts=["p"] * 4, completions=TEXTS, score_label="POSITIVE", **settings)
    logits = own_logits(classifier_dir, TEXTS)
    assert len(negative) == len(positive) == 4
    assert negative != positive
    assert negative == pytest.approx([row[0] for row in logits], abs=1e-5)
    assert positive == pytest.approx([row[1] for row in logits], abs=1e-5)


def test_reward_model_gives_the_same_scores_in_small_batches(classifier_dir):
    settings = {"model_name_or_path": classifier_dir, "score_label": "POSITIVE"}
    whole = reward_model(prompts=["Tell me: "] * 4, completions=TEXTS, batch_size=16, **settings)
    batched = reward_model(prompts=["Tell me: "] * 4, completions=TEXTS, batch_size=3, **settings)
    assert batched == pytest.approx(whole, abs=1e-5)


def test_reward_model_puts_the_prompt_in_front_unless_told_not_to(classifier_dir):
    settings = {"model_name_or_path": classifier_dir, "score_label": "POSITIVE"}
    with_prompt = reward_model(prompts=["Once upon "], completions=["a time"], **settings)
    alone = reward_model(prompts=["Once upon "], completions=["a time"], include_prompt=False, **settings)
    assert with_prompt == pytest.approx([own_logits(classifier_dir, ["Once upon a time"])[0][1]], abs=1e-5)
    assert alone == pytest.approx([own_logits(classifier_dir, ["a time"])[0][1]], abs=1e-5)


def test_reward_model_reads_conversations_without_a_chat_template_as_their_messages(classifier_dir):
    settings = {"model_name_or_path": classifier_dir, "score_label": "POSITIVE"}
    chat = reward_model(
        prompts=[[{"role": "user", "content": "Tell me a story"}]],
        completions=[[{"role": "assistant", "content": "Once upon a time"}]],
        **settings,
    )
    plain = reward_model(prompts=["Tell me a story\n"], completions=["Once upon a time"], **settings)
    assert chat == pytest.approx(plain, abs=1e-5)


def test_reward_model_gives_probabilities_on_request(classifier_dir):
    settings = {"model_name_or_path": classifier_dir, "completions": TEXTS, "prompts": ["p"] * 4}
    negative = reward_model(score_label="NEGATIVE", score_type="probability", **settings)
    positive = reward_model(score_label="POSITIVE", score_type="probability", **settings)
    assert [n + p for n, p in zip(negative, positive)] == pytest.approx([1.0] * 4)


def test_reward_model_is_loaded_once_and_ignores_a_label_column_of_the_dataset(classifier_dir):
    assert load_reward_model(classifier_dir) is load_reward_model(classifier_dir)
    scorer = get_reward_funcs(
        ["reward_model"], {"reward_model": {"model_name_or_path": classifier_dir, "score_label": "POSITIVE"}}
    )[0]
    scores = scorer(prompts=["p", "p"], completions=TEXTS[:2], label=[0, 1], trainer_state=None)
    assert scores == reward_model(
        prompts=["p", "p"], completions=TEXTS[:2], model_name_or_path=classifier_dir, score_label="POSITIVE"
    )


def test_reward_model_without_a_model_says_how_to_name_one():
    with pytest.raises(ValueError, match=r"set reward_kwargs: \{reward_model: \{model_name_or_path"):
        reward_model(prompts=["p"], completions=["x"])


@pytest.mark.parametrize(
    "settings, message",
    [
        ({}, r"2 labels \(NEGATIVE, POSITIVE\); choose the one to score with"),
        ({"score_label": "JOY"}, "no label 'JOY'; its labels are NEGATIVE, POSITIVE"),
        ({"score_label": "POSITIVE", "score_type": "rank"}, "score_type 'rank' is not one of logit, probability"),
    ],
)
def test_reward_model_label_errors_list_the_choices(classifier_dir, settings, message):
    with pytest.raises(ValueError, match=message):
        reward_model(prompts=["p"], completions=["x"], model_name_or_path=classifier_dir, **settings)


# --- binding settings ----------------------------------------------------------------------------


def test_get_reward_funcs_binds_each_rewards_settings_by_name():
    format_func, length_func = get_reward_funcs(
        ["format", "length"], {"format": {"pattern": "a+"}, "length": {"target_length": 3}}
    )
    assert format_func.__name__ == "format_reward"
    assert format_func(prompts=["q", "q"], completions=["aaa", "ab"]) == [1.0, 0.0]
    assert length_func(prompts=["q", "q"], completions=["a b c", "a b c d"]) == [0.0, -0.01]


def test_get_reward_funcs_rejects_a_setting_the_reward_does_not_take():
    with pytest.raises(UnknownRewardError, match="Reward 'length' has no setting 'target'.*target_length"):
        get_reward_funcs(["length"], {"length": {"target": 3}})
