"""The reward of the background experiment ("REINFORCE vs RLOO", docs/background.md): how many words of the completion start with "a" or "A"."""

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


# Where the text stands after some characters, for counting a-words token by token:
_AT_BOUNDARY, _IN_LEADING_PUNCTUATION, _IN_WORD = range(3)


def _scan(text: str, state: int) -> tuple[int, int]:
    """(a-words begun in `text`, state after it), reading `text` from `state`."""
    count = 0
    for ch in text:
        if ch.isspace():
            state = _AT_BOUNDARY
        elif state != _IN_WORD and unicodedata.category(ch).startswith("P"):
            state = _IN_LEADING_PUNCTUATION
        elif state != _IN_WORD:
            count += ch in "aA"
            state = _IN_WORD
    return count, state


def max_a_words(tokenizer, max_tokens: int) -> int:
    """The most a-words any completion of `max_tokens` tokens can hold: the reward's maximum.

    Assumes, as for byte-level BPE, that a completion's text is its tokens' texts joined. For every
    start state and end state, the best single token is found once; then the best sequence of up to
    `max_tokens` tokens is a small dynamic programme over (tokens left, state).
    """
    special = set(tokenizer.all_special_ids)
    texts = [tokenizer.decode([i]) for i in range(len(tokenizer)) if i not in special]
    # best_step[s][e]: most a-words one token begins when read from state s and leaving state e
    best_step = [[None] * 3 for _ in range(3)]
    for text in texts:
        for start in range(3):
            count, end = _scan(text, start)
            if best_step[start][end] is None or count > best_step[start][end]:
                best_step[start][end] = count
    # best[s]: most a-words the remaining tokens can add from state s; a completion may stop early (EOS).
    best = [0, 0, 0]
    for _ in range(max_tokens):
        best = [
            max([0] + [step + best[end] for end, step in enumerate(best_step[start]) if step is not None])
            for start in range(3)
        ]
    return best[_AT_BOUNDARY]


# The reward's maximum, which the closing summary and the curves show: the recipes read it off the function.
a_words.maximum = max_a_words
