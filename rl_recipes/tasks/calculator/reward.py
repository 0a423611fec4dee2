"""The calculator task's reward: whether the final answer is the right number, written in the answer's form.

Recipes name it `calculator_answer` (`rewards.TASK_REWARDS`).
"""

import re

from rewards.text import final_turn

# The final turn in full: a number anywhere in a malformed turn ("The answer is 51</call>") is not an answer.
ANSWER_FORM = re.compile(r"The answer is (-?\d+)\.")


def calculator_answer(completions: list, answer: list, **kwargs) -> list[float]:
    """1.0 where the final turn is exactly "The answer is N." with N the reference `answer` column, else 0.0."""
    scores = []
    for completion, reference in zip(completions, answer, strict=True):
        written = ANSWER_FORM.fullmatch(final_turn(completion).strip())
        scores.append(float(written is not None and int(written.group(1)) == int(reference)))
    return scores
