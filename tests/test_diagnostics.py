from collections import defaultdict, deque

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from rewards.a_words import max_a_words
from rl_recipes.trainers.diagnostics import CollapseDiagnosticsMixin


class FakeTrainer:
    """Stands in for a TRL trainer: returns a batch and leaves its completions in `_logs`, as TRL does."""

    def __init__(self, batches):
        self.batches = iter(batches)
        self.model = torch.nn.Linear(1, 1)
        self._metrics = {"train": defaultdict(list)}
        self._logs = {"completion": deque(maxlen=4)}

    def _generate_and_score_completions(self, inputs):
        self._logs["completion"].extend(next(self.batches))
        return {}


class Diagnosed(CollapseDiagnosticsMixin, FakeTrainer):
    pass


def distinct_counts(batches):
    trainer = Diagnosed(batches)
    for _ in batches:
        trainer._generate_and_score_completions(None)
    return trainer._metrics["train"]["distinct_completions"]


def test_identical_completions_count_as_one_distinct():
    assert distinct_counts([["a a a"] * 4, ["a a a"] * 4]) == [1, 1]


def test_varied_completions_count_as_many_and_the_window_remembers_earlier_steps():
    assert distinct_counts([["x", "y", "z", "w"], ["x", "x", "v", "u"]]) == [4, 6]


def word_tokenizer(vocab: list[str]) -> PreTrainedTokenizerFast:
    """A hand-made tokenizer whose tokens are exactly `vocab` (greedy longest match)."""
    tokenizer = Tokenizer(
        models.WordPiece(
            {token: i for i, token in enumerate(vocab + ["[UNK]"])}, unk_token="[UNK]", continuing_subword_prefix=""
        )
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]")


def test_max_a_words_needs_a_separator_between_words():
    tokenizer = word_tokenizer(["a", " ", "b"])
    # "a a a": five tokens, three a-words; the separators cost tokens.
    assert max_a_words(tokenizer, 5) == 3
    assert max_a_words(tokenizer, 4) == 2
    assert max_a_words(tokenizer, 1) == 1


def test_max_a_words_is_one_per_token_with_a_space_a_token():
    assert max_a_words(word_tokenizer(["a", " a", "b"]), 7) == 7


def test_max_a_words_counts_words_behind_leading_punctuation():
    # '"a' is an a-word, but the quote alone is not; " \"" then "a" costs two tokens a word.
    assert max_a_words(word_tokenizer([' "', "a", "b"]), 6) == 1 + 2
    assert max_a_words(word_tokenizer(["b", " "]), 10) == 0
