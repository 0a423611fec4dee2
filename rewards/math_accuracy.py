"""Whether a completion's final answer equals the reference answer: 1.0 or 0.0, for maths data sets.

The reference comes from a dataset column (`answer` unless `answer_column` says otherwise), in any
of the shapes maths data sets use: a GSM8K solution ending in `#### 72`, a MATH-style `\\boxed{3/4}`,
or the bare answer ("72", "(1, 2)"). Numbers are compared as numbers, so "1,000", "$1000" and
"1000.0" agree, as do "0.75", "3/4" and "\\frac{3}{4}"; anything else as normalised text.
"""

import math
import re

from rewards.text import completion_text

# What TRL passes every reward besides the dataset columns; left out when listing the columns.
_TRL_ARGUMENTS = {"prompts", "completion_ids", "trainer_state", "log_metric", "log_extra"}

_RELATIVE_TOLERANCE = 1e-6

# A plain number as written in prose: "-3", "1,000", "2.5", ".5" or "3/4". The minus sign must not
# follow a word character, so that the "-01" of "2024-05-01" is not read as negative.
_NUMBER = re.compile(r"(?:(?<![\w.])-)?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:/\d+)?")
# A whole answer that is a number, perhaps followed by a unit ("72 dollars", "5 cm").
_NUMERIC_ANSWER = re.compile(r"([-+]?)(\d+(?:\.\d+)?|\.\d+)(?:/(\d+(?:\.\d+)?))?\s*[a-zA-Z. ]*")
# \frac{3}{4} (or \dfrac, \tfrac) of plain numbers, rewritten as 3/4; other fractions stay LaTeX, compared as text.
_FRACTION = re.compile(r"\\[dt]?frac\{\s*(-?[\d.]+)\s*\}\{\s*([\d.]+)\s*\}")
_TEXT_COMMAND = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def _last_boxed(text: str) -> str | None:
    """The contents of the last `\\boxed{...}`, braces inside it included; None if there is none or it is unclosed."""
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    depth = 0
    opening = start + len("\\boxed")
    for position in range(opening, len(text)):
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        if depth == 0:
            return text[opening + 1 : position].strip()
    return None


def _after_hashes(text: str) -> str | None:
    """What follows the last GSM8K-style `####` on its line."""
    marked = re.findall(r"####[ \t]*([^\n]*)", text)
    return marked[-1].strip() if marked and marked[-1].strip() else None


def completion_answer(text: str) -> str | None:
    """The last `\\boxed{...}`, else what follows `####`, else the last number in the text."""
    marked = _last_boxed(text) or _after_hashes(text)
    if marked:
        return marked
    numbers = _NUMBER.findall(_FRACTION.sub(r"\1/\2", text.replace("\u2212", "-")))
    return numbers[-1] if numbers else None


def reference_answer(reference) -> str | None:
    """The last `\\boxed{...}`, else what follows `####`, else the reference itself when it is one line.

    Unlike a completion, a reference is not searched for its last number: a bare answer such as
    "\\sqrt{2}" would become "2". A multi-line reference with no marked answer cannot be read.
    """
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        return str(reference)  # JSON and CSV data sets may hold the answer as a number
    if not isinstance(reference, str):
        return None
    marked = _last_boxed(reference) or _after_hashes(reference)
    if marked:
        return marked
    reference = reference.strip()
    return reference if reference and "\n" not in reference else None


def _clean(answer: str) -> str:
    answer = answer.replace("\u2212", "-")  # the Unicode minus sign
    answer = _FRACTION.sub(r"\1/\2", answer)
    answer = _TEXT_COMMAND.sub(r"\1", answer)
    for noise in ("\\left", "\\right", "\\!", "\\,", "\\$", "$", "\\%", "%"):
        answer = answer.replace(noise, "")
    answer = _THOUSANDS_COMMA.sub("", answer)
    return answer.strip().rstrip(".").strip()


def parse_number(answer: str) -> float | None:
    """The value of an answer that is a number, fraction or percentage (its unit dropped), else None.

    "x = 5" reads as 5: the value after the last "=". A percentage reads as its number, so "50%"
    equals "50", not "0.5".
    """
    answer = _clean(answer).rpartition("=")[2].strip()
    match = _NUMERIC_ANSWER.fullmatch(answer)
    if match is None:
        return None
    sign, numerator, denominator = match.groups()
    if denominator is not None and float(denominator) == 0:
        return None
    value = float(numerator) / float(denominator) if denominator else float(numerator)
    return -value if sign == "-" else value


def _normalise(answer: str) -> str:
    return re.sub(r"\s+", "", _clean(answer)).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").lower()


def answers_match(predicted: str, reference: str) -> bool:
    predicted_value, reference_value = parse_number(predicted), parse_number(reference)
    if predicted_value is not None and reference_value is not None:
        return math.isclose(predicted_value, reference_value, rel_tol=_RELATIVE_TOLERANCE, abs_tol=1e-9)
    return _normalise(predicted) == _normalise(reference)


def math_accuracy(completions: list, answer_column: str = "answer", **kwargs) -> list[float | None]:
    """1.0 where the completion's final answer equals the reference in `answer_column`, else 0.0.

    None (TRL skips the sample) where the reference cannot be read; 0.0 where the completion has no answer.
    """
    if answer_column not in kwargs:
        columns = ", ".join(sorted(set(kwargs) - _TRL_ARGUMENTS)) or "none besides the prompt"
        raise ValueError(
            f"math_accuracy reads the reference answers from the dataset column '{answer_column}', which this data set "
            f"lacks (its other columns: {columns}); set reward_kwargs: {{math_accuracy: {{answer_column: ...}}}}."
        )
    scores = []
    for completion, reference in zip(completions, kwargs[answer_column], strict=True):
        expected = reference_answer(reference)
        if expected is None:
            scores.append(None)
            continue
        predicted = completion_answer(completion_text(completion))
        scores.append(float(predicted is not None and answers_match(predicted, expected)))
    return scores
