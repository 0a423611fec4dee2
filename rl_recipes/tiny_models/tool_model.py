"""The embedded tool-using model: a tiny Llama pretrained on synthetic transcripts of the embedded tasks.

`build_tool_model` renders each task's transcripts (`rl_recipes.tasks.<task>.pretraining`) with the chat
format of `chat_format` (the tools listed, the calls, their results, the answer), trains the tokenizer on
them and pretrains a small Llama on them (`rl_recipes.tiny_models.pretraining`); recipes load it with
`from_pretrained`, like a Hub model. Its tokenizer carries the chat template and the response template, so
TRL renders prompts with the tools and parses the calls back.

Two kinds of transcripts set where RL starts (`rl_recipes.tiny_models.transcript_tokens` names their tokens):

- `num_transcripts` that teach the decisions: a share `tool_share` of them use the tools well; the rest
  answer the calculator with a guess, or read the wrong drawer or guess the vault's code. The model so learns
  to call the tools, and the right ones, only some of the time;
- `skill_transcripts` that all use the tools well but carry no loss on the decisions (each task's
  `pretraining.DECISIONS`): they teach the skill, every copy of a number into a call or an answer, without
  moving the decisions.

So the starting model can do the task once it decides to, and what RL has to learn is the decision: held-out
success starts at 10-40% and can rise to nearly all. The build then checks the skill: each copy's probability
on the held-out tasks must be at least `min_copy_probability`, or the build fails naming the weak copy.
"""

import random
from dataclasses import dataclass, field
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.tasks.splits import SPLIT_SIZES, TASK_NAMES, held_out_keys, make_tasks, task_part
from rl_recipes.tiny_models.pretraining import TinyLlamaSpec, pretrain_llama
from rl_recipes.tiny_models.transcript_tokens import (
    check_copies,
    copy_probabilities,
    label_assistant_tokens,
    token_texts,
)

DEFAULT_TOOL_MODEL_DIR = REPO_ROOT / "models" / "tiny-tools"


@dataclass
class ToolModelSpec(TinyLlamaSpec):
    """What to build. The defaults build in about five minutes on 2 CPU cores (4 min 37 s on an AMD EPYC, 5 min 0 s
    there under `ATEN_CPU_CAPABILITY=avx2`), every copy at 0.985 or more on the held-out tasks in both."""

    num_transcripts: int = field(default=10000, metadata={"help": "Transcripts that teach the decisions."})
    tool_share: float = field(default=0.3, metadata={"help": "Share of those that use the tools well."})
    skill_transcripts: int = field(
        default=30000, metadata={"help": "Transcripts that use the tools well, with no loss on the decisions."}
    )
    vocab_size: int = 320
    num_layers: int = 2
    max_length: int = field(default=256, metadata={"help": "Positions of the model."})
    max_steps: int = field(default=2200, metadata={"help": "Pretraining steps."})
    min_copy_probability: float = field(
        default=0.97,
        metadata={
            "help": "Least mean probability of the right token at each copy on the held-out tasks; below it the "
            "build fails and saves nothing. 0: keep any build."
        },
    )


def pretraining_transcripts(spec: ToolModelSpec) -> list[tuple[str, list[dict], bool]]:
    """(task name, conversation, whether it teaches the decisions) triples, an equal share of each task, with the
    held-out tasks left out."""
    rng = random.Random(spec.seed)
    conversations = []
    for name in TASK_NAMES:
        pretraining = task_part(name, "pretraining")
        count = (spec.num_transcripts + spec.skill_transcripts) // len(TASK_NAMES)
        for index, task in enumerate(make_tasks(name, "pretraining", count, exclude=held_out_keys(name))):
            teaches_decisions = index < spec.num_transcripts // len(TASK_NAMES)
            use_tools = not teaches_decisions or rng.random() < spec.tool_share
            conversations.append((name, pretraining.conversation(task, rng, use_tools), teaches_decisions))
    rng.shuffle(conversations)
    return conversations


def build_tool_model(output_dir, spec: ToolModelSpec | None = None) -> Path:
    """Train the tiny tool-using model and save model and tokenizer to `output_dir`; returns the path."""
    from datasets import Dataset
    from jinja2 import Template
    from transformers import DataCollatorForSeq2Seq

    from rl_recipes.tiny_models.chat_format import CHAT_TEMPLATE, train_tokenizer

    spec = spec or ToolModelSpec()
    conversations = pretraining_transcripts(spec)
    parts = {name: task_part(name, "pretraining") for name in TASK_NAMES}
    tools = {name: part.prompt_tools() for name, part in parts.items()}
    # The tokenizer is trained on the rendered text, so render before it exists.
    draft = Template(CHAT_TEMPLATE)
    tokenizer = train_tokenizer(
        [
            draft.render(messages=messages, tools=[{"function": s} for s in tool_schemas(tools[name])])
            for name, messages, _ in conversations
        ],
        spec.vocab_size,
        whole_words=sorted({tool.__name__ for task_tools in tools.values() for tool in task_tools}),
    )
    # The training text, rendered by transformers exactly as TRL renders prompts and turns.
    texts = [
        tokenizer.apply_chat_template(messages, tools=tools[name], tokenize=False)
        for name, messages, _ in conversations
    ]
    sequences = tokenizer(texts, add_special_tokens=False)["input_ids"]
    # The loss is on the assistant's tokens alone (the calls it writes, the answers it gives), as in supervised
    # fine-tuning of a chat model: the questions' numbers and the tools' results are to be read, not predicted.
    # The transcripts that teach the skill alone leave the decisions out too.
    texts = token_texts(tokenizer)
    labels = [
        training_labels(ids, tokenizer, untrained=set() if teaches_decisions else parts[name].DECISIONS, texts=texts)
        for (name, _, teaches_decisions), ids in zip(conversations, sequences)
    ]
    dataset = Dataset.from_dict({"input_ids": sequences, "labels": labels})
    # Each transcript a row, padded to the longest of its batch.
    collator = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)

    def check_skill(model) -> None:
        held_out = {name: make_tasks(name, "test", SPLIT_SIZES["test"]) for name in TASK_NAMES}
        probabilities = copy_probabilities(model, tokenizer, TASK_NAMES, held_out.__getitem__, task_part)
        for copy, probability in sorted(probabilities.items()):
            print(f"copy {copy}: {probability:.3f}")
        check_copies(probabilities, spec.min_copy_probability)

    return pretrain_llama(
        output_dir,
        tokenizer,
        dataset,
        spec,
        max_positions=spec.max_length,
        data_collator=collator,
        check=check_skill,
    )


def training_labels(ids: list[int], tokenizer, untrained: set[str], texts: list[str] | None = None) -> list[int]:
    """The pretraining labels of a rendered transcript: each token the assistant wrote, but -100 (no loss) on
    what it did not write and on the tokens whose label (`label_assistant_tokens`) is in `untrained`."""
    written = assistant_turns(ids, tokenizer.convert_tokens_to_ids("<|assistant|>"), tokenizer.eos_token_id)
    kinds = label_assistant_tokens(ids, tokenizer, texts)
    return [token if mine and kind not in untrained else -100 for token, mine, kind in zip(ids, written, kinds)]


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
