"""The pretraining both embedded models share: a small `LlamaForCausalLM` trained from scratch with the standard
`transformers.Trainer` on CPU, saved with `save_pretrained` beside its tokenizer, so that everything downstream
loads it with `from_pretrained(path)`, exactly like a Hub id.

Each builder brings its data (text, tokenizer, training rows) and a spec: `TinyLlamaSpec` holds the model's
shape and the training settings, with the story model's values as defaults; each builder's spec adds what its
data needs and changes what differs.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rl_recipes.saving import model_dir_written_whole


@dataclass
class TinyLlamaSpec:
    """The model's shape and its pretraining."""

    vocab_size: int = 512
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    max_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    tie_word_embeddings: bool = True
    seed: int = 0


def pretrain_llama(
    output_dir: str | os.PathLike,
    tokenizer,
    dataset,
    spec: TinyLlamaSpec,
    max_positions: int,
    data_collator=None,
    check: Callable | None = None,
) -> Path:
    """Train a Llama shaped by `spec` on `dataset` (rows of `input_ids` and `labels`) and save it with `tokenizer`
    to `output_dir`, whole or not at all; returns the path.

    Without a `data_collator` the rows must be of one length (blocks cut from a token stream); with one, each row
    is padded on the right to the longest of its batch, so that its positions start at 0, as a prompt's do.
    `check(model)`, when given, runs on the trained model before it is saved; what it raises stops the build and
    leaves `output_dir` as it was.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments, set_seed

    from rl_recipes.console import use_console

    output_dir = Path(output_dir)
    set_seed(spec.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=spec.tie_word_embeddings,
        # A text starts after the end-of-text token (the story tokenizer's start token is that token too).
        bos_token_id=tokenizer.eos_token_id,
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
            weight_decay=spec.weight_decay,
            logging_steps=50,
            save_strategy="no",
            report_to="none",
            use_cpu=not torch.cuda.is_available(),
            dataloader_pin_memory=torch.cuda.is_available(),  # pinning only helps copies to a GPU; on a CPU it warns
            seed=spec.seed,
            dataloader_num_workers=0,
        )
        if data_collator is not None:
            tokenizer.padding_side = "right"
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=data_collator)
        use_console(trainer, ["loss"])  # the loss in the progress bar, not a dictionary under it every 50 steps
        trainer.train()
        tokenizer.padding_side = "left"  # for generation, as TRL pads prompts
        if check is not None:
            model.eval()
            check(model)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.save_pretrained(scratch / "model")
        tokenizer.save_pretrained(scratch / "model")
    return output_dir
