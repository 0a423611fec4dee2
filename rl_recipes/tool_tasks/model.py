"""The embedded tool-using model: a tiny Llama pretrained on synthetic transcripts of both tool tasks.

`build_tool_model` renders transcripts with the chat format of `chat_format` (the tools listed, the
calls, their results, the answer), trains the tokenizer on them, pretrains a `LlamaForCausalLM` with
the standard `transformers.Trainer`, and saves model and tokenizer with `save_pretrained`; recipes
load it with `from_pretrained`, like a Hub model. Its tokenizer carries the chat template and the
response template, so TRL renders prompts with the tools and parses the calls back.

The pretraining mix sets where RL starts: a share `tool_share` of the transcripts use the tools
well; the rest answer the calculator with a guess, or read the wrong drawer or guess the vault's
code. The model so learns to call the tools sometimes, and RL has something to improve: held-out
success starts well below 50% and can rise to nearly all.
"""

import random
from dataclasses import dataclass
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.saving import model_dir_written_whole

DEFAULT_TOOL_MODEL_DIR = REPO_ROOT / "models" / "tiny-tools"


@dataclass
class ToolModelSpec:
    """What to build. The defaults train in about four minutes on 2 CPU cores (AMD EPYC, measured)."""

    num_transcripts: int = 20000
    tool_share: float = 0.4
    vocab_size: int = 320
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 384
    max_length: int = 256  # positions of the model
    max_steps: int = 1500
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    tie_word_embeddings: bool = True
    seed: int = 0


def task_tools(name: str) -> list:
    """The tools a task's prompts list: the calculator's functions, or a vault's public methods."""
    from rl_recipes.tool_tasks import calculator, vault

    if name == "calculator":
        return list(calculator.TOOLS)
    instance = vault.Vault()
    return [instance.read_drawer, instance.unlock]


def pretraining_transcripts(spec: ToolModelSpec) -> list[list[dict]]:
    """Conversations of both tasks, half each, with the held-out tasks left out."""
    from rl_recipes.tool_tasks import SPLIT_SIZES, TASKS, make_tasks, task_key

    rng = random.Random(spec.seed)
    conversations = []
    for name, module in TASKS.items():
        held_out = {task_key(task) for task in make_tasks(name, "test", SPLIT_SIZES["test"])}
        for task in make_tasks(name, "pretraining", spec.num_transcripts // len(TASKS), exclude=held_out):
            prompt = module.as_row(task)["prompt"]
            if name == "vault":  # the environment's reset appends the drawer to the request
                observation = module.Vault().reset(**task)
                prompt = [{**prompt[-1], "content": prompt[-1]["content"] + observation}]
            use_tools = rng.random() < spec.tool_share
            conversations.append((name, prompt + module.transcript(task, rng, use_tools)))
    rng.shuffle(conversations)
    return conversations


def build_tool_model(output_dir, spec: ToolModelSpec | None = None) -> Path:
    """Train the tiny tool-using model and save model and tokenizer to `output_dir`; returns the path."""
    import torch
    from datasets import Dataset
    from transformers import (
        DataCollatorForSeq2Seq, LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments, set_seed,
    )

    from rl_recipes.console import use_console
    from rl_recipes.tool_tasks.chat_format import CHAT_TEMPLATE, train_tokenizer

    spec = spec or ToolModelSpec()
    output_dir = Path(output_dir)
    set_seed(spec.seed)
    conversations = pretraining_transcripts(spec)
    from jinja2 import Template  # the tokenizer is trained on the rendered text, so render before it exists

    draft = Template(CHAT_TEMPLATE)
    tokenizer = train_tokenizer(
        [draft.render(messages=messages, tools=[{"function": s} for s in tool_schemas(task_tools(name))])
         for name, messages in conversations],
        spec.vocab_size,
    )
    # The training text, rendered by transformers exactly as TRL renders prompts and turns.
    texts = [tokenizer.apply_chat_template(messages, tools=task_tools(name), tokenize=False)
             for name, messages in conversations]
    sequences = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assistant = tokenizer.convert_tokens_to_ids("<|assistant|>")
    # The loss is on the assistant's tokens alone (the calls it writes, the answers it gives), as in supervised
    # fine-tuning of a chat model: the questions' numbers and the tools' results are to be read, not predicted.
    labels = [[token if written else -100 for token, written in zip(ids, assistant_turns(ids, assistant, tokenizer.eos_token_id))]
              for ids in sequences]
    dataset = Dataset.from_dict({"input_ids": sequences, "labels": labels})

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads, num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_length, tie_word_embeddings=spec.tie_word_embeddings, bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    with model_dir_written_whole(output_dir) as scratch:
        args = TrainingArguments(
            output_dir=str(scratch / "trainer"), max_steps=spec.max_steps, per_device_train_batch_size=spec.batch_size,
            learning_rate=spec.learning_rate, lr_scheduler_type="cosine", warmup_steps=spec.max_steps // 20,
            weight_decay=spec.weight_decay, logging_steps=50, save_strategy="no", report_to="none",
            use_cpu=not torch.cuda.is_available(), dataloader_pin_memory=torch.cuda.is_available(), seed=spec.seed,
        )
        # Each transcript a row, padded on the right to the longest of its batch: positions start at 0, as in a prompt.
        tokenizer.padding_side = "right"
        collator = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
        use_console(trainer, ["loss"])
        trainer.train()
        tokenizer.padding_side = "left"  # for generation, as TRL pads prompts
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.save_pretrained(scratch / "model")
        tokenizer.save_pretrained(scratch / "model")
    return output_dir


def tool_schemas(tools: list) -> list[dict]:
    """The JSON schema of each tool, as transformers renders tools into a chat template."""
    from transformers.utils import get_json_schema

    return [get_json_schema(tool)["function"] for tool in tools]


def assistant_turns(ids: list[int], assistant_token: int, end_token: int) -> list[bool]:
    """Which tokens the assistant wrote: from after each assistant header up to and including its end token."""
    inside, written = False, []
    for token in ids:
        written.append(inside)
        if token == assistant_token:
            inside = True
        elif token == end_token:
            inside = False
    return written
