"""Whether a completion keeps to a required layout, such as reasoning in <think> tags followed by an <answer>.

The completion, stripped of surrounding whitespace, must match the whole regular expression
(`re.fullmatch`), with `.` matching newlines too (`re.DOTALL`): a pattern describes the entire
reply, so text before or after the tags fails it. Anchors (^, $) are therefore not needed.
"""

import functools
import re

from rewards.text import completion_text

THINK_ANSWER_PATTERN = r"<think>.*?</think>\s*<answer>.*?</answer>"


@functools.lru_cache(maxsize=None)
def _compile(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.DOTALL)
    except (re.error, TypeError) as error:
        raise ValueError(f"format reward: pattern {pattern!r} is not a valid regular expression ({error}).") from None


def format_reward(completions: list, pattern: str = THINK_ANSWER_PATTERN, **kwargs) -> list[float]:
    """1.0 where the whole completion (surrounding whitespace stripped) matches `pattern`, else 0.0."""
    regex = _compile(pattern)
    return [float(regex.fullmatch(completion_text(c).strip()) is not None) for c in completions]
