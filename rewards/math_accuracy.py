"""Whether a completion's final answer equals the reference answer: 1.0 or 0.0, for maths data sets.

Equivalence is math-verify's, the verifier behind TRL's `accuracy_reward` and open-r1: fractions,
decimals, LaTeX, percentages, units, thousands separators and sets all compare by value. What this
module adds is where each answer is read from, in the layouts maths data sets and recipes use:

- the reference (the dataset column `answer` unless `answer_column` says otherwise): a GSM8K solution
  ending in `#### 72`, a MATH-style `\\boxed{3/4}`, or the bare answer ("72", "(1, 2)", a number);
- the completion: its last `<answer>...</answer>` block when it has one (an empty block scores 0),
  otherwise its last `\\boxed{...}`, otherwise its last number.

Exactly that one final answer is handed to math-verify, never the text around it: math-verify accepts
a match among any of the candidates it extracts, and prefers an anchored one ("the answer is 72, no,
70" reads as 72), so a model under RL would learn to hedge by listing several numbers. A block that
holds words ("72 dollars", "72 or 70") is read as its last number, like a completion without one.

A mixed number ("1 1/2") is rewritten as a fraction ("3/2") before math-verify sees it: it would read 1.
"""

import functools
import logging
import re
import threading

from latex2sympy2_extended import NormalizationConfig
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from rewards.text import TRL_CALL_ARGUMENTS, completion_text

# The last `\boxed{...}` of a text, LaTeX units and `\text{...}` words dropped.
_BOXED = LatexExtractionConfig(
    normalization_config=NormalizationConfig(units=True, boxed="last"),
    boxed_match_priority=0,
    try_extract_without_anchor=False,
)
# A number or plain expression in prose ("72 clips", "3/4", "-5", "$1,000"), the last one when there are several.
_PLAIN = ExprExtractionConfig()

_TIME_LIMIT_SECONDS = 5  # as math-verify's own default
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_GSM8K_ANSWER = re.compile(r"####[ \t]*([^\n]*)")
# "1 1/2": a whole number, a space and a fraction, not part of a longer number or list.
_MIXED_NUMBER = re.compile(r"(?<![\d.,/])(\d+)[ \t]+(\d+)/(\d+)(?![\d.,/])")
# A word of two letters or more that is not a LaTeX command: an answer with one is prose, not a formula.
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
# A number in prose: "-5", "1,000", "0.75", "3/4" (a minus only where no word or digit stands before it:
# "pages 10-12" ends on 12, not -12).
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?")


def _time_limit() -> int | None:
    """Seconds math-verify may spend on one parse or comparison, or None for no limit.

    math-verify enforces its limit with SIGALRM, which only the main thread may use. TRL calls a
    synchronous reward from each process's main thread, where a pathological answer (a tower of
    exponents) is cut off after a few seconds. Called from another thread (the event loop of a user's
    async reward, a thread pool), it runs without a limit rather than fail, as TRL's `accuracy_reward` does.
    """
    if threading.current_thread() is threading.main_thread():
        return _TIME_LIMIT_SECONDS
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).setLevel(logging.ERROR)  # its warning that the limit is off, by choice here
    return None


def _mixed_to_fraction(match: re.Match) -> str:
    whole, numerator, denominator = (int(group) for group in match.groups())
    return f"{whole * denominator + numerator}/{denominator}" if denominator else match.group(0)


@functools.lru_cache(maxsize=4096)
def _parse(text: str, configs: tuple, time_limit: int | None) -> list:
    """math-verify's parse, remembered: a reference is read once for each completion of its prompt, and
    short answers recur. (math-verify itself remembers only the last step, from expression to SymPy.)"""
    return parse(text, extraction_config=list(configs), parsing_timeout=time_limit)


def parse_answer(answer: str, time_limit: int | None) -> list:
    """An answer on its own (what an <answer> block, a `####` line or a bare reference holds), parsed:
    as a LaTeX formula, unless it holds words ("72 dollars"), when its last number is the answer."""
    answer = _normalise(answer).strip()
    if not answer:
        return []
    if _PROSE_WORD.search(answer):
        number = last_number(answer)
        return _parse(f"\\boxed{{{number}}}", (_BOXED,), time_limit) if number else []
    return _parse(f"\\boxed{{{answer}}}", (_BOXED,), time_limit) or _parse(answer, (_PLAIN,), time_limit)


def _normalise(text: str) -> str:
    """Unicode minus signs as ASCII, mixed numbers as fractions."""
    return _MIXED_NUMBER.sub(_mixed_to_fraction, text.replace("\u2212", "-"))


def last_number(text: str) -> str | None:
    """The last number written in `text`, as written ("1,000", "-5", "3/4"), or None."""
    numbers = _NUMBER.findall(_normalise(text))
    return numbers[-1] if numbers else None


def parse_last_boxed(text: str, time_limit: int | None) -> list:
    """The last `\\boxed{...}` of `text`, parsed. Only the text from it on is handed over: math-verify
    would read nearby boxes together as one answer of several values ("\\boxed{1}, then \\boxed{2}")."""
    start = text.rfind("\\boxed")
    return _parse(text[start:], (_BOXED,), time_limit) if start != -1 else []


def parse_completion(text: str, time_limit: int | None) -> list:
    """The completion's answer: its last <answer> block, else its last `\\boxed{}`, else its last number."""
    blocks = _ANSWER_BLOCK.findall(text)
    if blocks:
        return parse_answer(blocks[-1], time_limit)
    boxed = parse_last_boxed(text, time_limit)
    if boxed:
        return boxed
    number = last_number(text)
    return _parse(f"\\boxed{{{number}}}", (_BOXED,), time_limit) if number else []


def parse_reference(reference, time_limit: int | None) -> list:
    """The reference answer, parsed; empty where it cannot be read. A reference is not searched for its last
    number, as a completion is: a multi-line text without `####` or `\\boxed{}` is a solution with no marked answer."""
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        return parse_answer(str(reference), time_limit)  # JSON and CSV data sets may hold the answer as a number
    if not isinstance(reference, str):
        return []
    marked = _GSM8K_ANSWER.findall(reference)
    if marked:
        return parse_answer(marked[-1], time_limit)
    if "\\boxed" in reference:
        return parse_last_boxed(reference, time_limit)
    reference = reference.strip()
    return parse_answer(reference, time_limit) if "\n" not in reference else []


def math_accuracy(completions: list, answer_column: str = "answer", **kwargs) -> list[float | None]:
    """1.0 where the completion's final answer equals the reference in `answer_column`, else 0.0.

    None (TRL skips the sample) where the reference cannot be read; 0.0 where the completion has no answer.
    """
    if answer_column not in kwargs:
        columns = ", ".join(sorted(set(kwargs) - TRL_CALL_ARGUMENTS)) or "none besides the prompt"
        raise ValueError(
            f"math_accuracy reads the reference answers from the dataset column '{answer_column}', which this data set "
            f"lacks (its other columns: {columns}); set reward_kwargs: {{math_accuracy: {{answer_column: ...}}}}."
        )
    time_limit = _time_limit()
    scores = []
    for completion, reference in zip(completions, kwargs[answer_column], strict=True):
        expected = parse_reference(reference, time_limit)
        if not expected:
            scores.append(None)
            continue
        predicted = parse_completion(completion_text(completion), time_limit)
        scores.append(float(bool(predicted) and verify(expected, predicted, timeout_seconds=time_limit)))
    return scores
