"""The embedded default model: a ~1M-parameter Llama story model that this repository trains itself.

It stands in for a Hub model on machines without network: `build_tiny_model` writes a story corpus
(`rl_recipes.tiny_models.story_corpus`), trains a byte-level BPE tokenizer on it with `tokenizers`, and
pretrains a small Llama on it (`rl_recipes.tiny_models.pretraining`).
"""

import os
from dataclasses import dataclass
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.tiny_models.pretraining import TinyLlamaSpec, pretrain_llama
from rl_recipes.tiny_models.story_corpus import generate_corpus

# Git-ignored: the weights are rebuilt on each machine, never committed (`rl_recipes.embedded`).
DEFAULT_TINY_MODEL_DIR = REPO_ROOT / "models" / "tiny-story"

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


@dataclass
class TinyModelSpec(TinyLlamaSpec):
    """What to build. The defaults train in about a minute on 2 CPU cores."""

    num_stories: int = 12000
    block_size: int = 128


def train_tokenizer(stories: list[str], vocab_size: int):
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(stories, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS_TOKEN, PAD_TOKEN])
    # Every text starts with the end-of-text token, as each story did in pretraining, so that the
    # prompt "Once upon a time" reads as the start of a story.
    bpe.post_processor = processors.TemplateProcessing(
        single=f"{EOS_TOKEN} $A", special_tokens=[(EOS_TOKEN, bpe.token_to_id(EOS_TOKEN))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN, padding_side="left"
    )


def _pretraining_blocks(stories: list[str], tokenizer, block_size: int):
    """Stories tokenized as `<eos> story <eos>`, concatenated and cut into equal blocks."""
    from datasets import Dataset

    ids: list[int] = []
    for encoding in tokenizer(stories)["input_ids"]:
        ids.extend(encoding + [tokenizer.eos_token_id])
    num_blocks = len(ids) // block_size
    blocks = [ids[i * block_size : (i + 1) * block_size] for i in range(num_blocks)]
    return Dataset.from_dict({"input_ids": blocks, "labels": blocks})


def build_tiny_model(output_dir: str | os.PathLike, spec: TinyModelSpec | None = None) -> Path:
    """Train the tiny story model and save model and tokenizer to `output_dir`; returns the path."""
    spec = spec or TinyModelSpec()
    stories = generate_corpus(spec.num_stories, seed=spec.seed)
    tokenizer = train_tokenizer(stories, spec.vocab_size)
    dataset = _pretraining_blocks(stories, tokenizer, spec.block_size)
    return pretrain_llama(output_dir, tokenizer, dataset, spec, max_positions=4 * spec.block_size)
