"""The embedded default model: a ~1M-parameter Llama story model that this repository trains itself.

It stands in for a Hub model on machines without network: `build_tiny_model` writes a story corpus
(`rl_recipes.tiny_story.corpus`), trains a byte-level BPE tokenizer on it with `tokenizers`, pretrains a small
`LlamaForCausalLM` with the standard `transformers.Trainer` on CPU, and saves both with
`save_pretrained`. Everything downstream loads it with `from_pretrained(path)`, exactly like a Hub id.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.saving import model_dir_written_whole
from rl_recipes.tiny_story.corpus import generate_corpus

# Git-ignored: the weights are rebuilt on each machine, never committed (`rl_recipes.embedded`).
DEFAULT_TINY_MODEL_DIR = REPO_ROOT / "models" / "tiny-story"

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


@dataclass
class TinyModelSpec:
    """What to build. The defaults train in about a minute on 2 CPU cores."""

    num_stories: int = 12000
    vocab_size: int = 512
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    block_size: int = 128
    max_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-3
    seed: int = 0


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
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments, set_seed

    from rl_recipes.console import use_console

    spec = spec or TinyModelSpec()
    output_dir = Path(output_dir)
    set_seed(spec.seed)
    stories = generate_corpus(spec.num_stories, seed=spec.seed)
    tokenizer = train_tokenizer(stories, spec.vocab_size)
    dataset = _pretraining_blocks(stories, tokenizer, spec.block_size)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=4 * spec.block_size,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)

    with model_dir_written_whole(output_dir) as scratch:
        args = TrainingArguments(
            output_dir=str(scratch / "trainer"),
            max_steps=spec.max_steps,
            per_device_train_batch_size=spec.batch_size,
            learning_rate=spec.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=spec.max_steps // 20,
            weight_decay=0.01,
            logging_steps=50,
            save_strategy="no",
            report_to="none",
            use_cpu=not torch.cuda.is_available(),
            dataloader_pin_memory=torch.cuda.is_available(),  # pinning only helps copies to a GPU; on a CPU it warns
            seed=spec.seed,
            dataloader_num_workers=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=dataset)
        use_console(trainer, ["loss"])  # the loss in the progress bar, not a dictionary under it every 50 steps
        trainer.train()
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(scratch / "model")
        tokenizer.save_pretrained(scratch / "model")
    return output_dir
