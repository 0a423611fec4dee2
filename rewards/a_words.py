"""The reward of the background experiment: how many words of the completion start with "a" or "A"."""

import unicodedata

from rewards.text import completion_text


def _strip_leading_punctuation(word: str) -> str:
    # Unicode punctuation (categories P*) covers ASCII marks, curly quotes, guillemets and dashes alike.
    start = 0
    while start < len(word) and unicodedata.category(word[start]).startswith("P"):
        start += 1
    return word[start:]


def count_a_words(text: str) -> int:
    return sum(_strip_leading_punctuation(word)[:1] in ("a", "A") for word in text.split())


def a_words(completions: list, **kwargs) -> list[float]:
    """Number of whitespace-separated words starting with "a"/"A" once leading quotes and punctuation are stripped."""
    return [float(count_a_words(completion_text(c))) for c in completions]
