"""The calculator task's reward: whether the final answer is the right number.

Recipes name it `calculator_answer` (`rewards.TASK_REWARDS`).
"""

from fractions import Fraction

from rewards.math_accuracy import last_number


def final_answer(completion) -> str:
    """The text of the completion's last assistant turn ('' when the rollout ended on a call or a tool result)."""
    if isinstance(completion, str):
        return completion
    last = completion[-1] if completion else {}
    return last.get("content") or "" if last.get("role") == "assistant" and not last.get("tool_calls") else ""


def calculator_answer(completions: list, answer: list, **kwargs) -> list[float]:
    """1.0 where the last number of the final answer equals the reference `answer` column, else 0.0."""
    scores = []
    for completion, reference in zip(completions, answer, strict=True):
        number = last_number(final_answer(completion))
        scores.append(float(number is not None and Fraction(number.replace(",", "")) == Fraction(str(reference))))
    return scores
