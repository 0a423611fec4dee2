"""What each token the assistant writes in a tool transcript is for, and how reliably the tool model copies.

A tool transcript's assistant tokens are of three kinds: decisions (call a tool or answer; which tool; which
drawer), copies (a number the model has read, written again: from the question into a call, from a result into
the next call or the answer) and the fixed text around them. `label_assistant_tokens` names each one:

- `turn<i>.start`: the first token of the i-th assistant turn (`<call>`, or the first word of an answer);
- `turn<i>.tool`: the tool's name after `<call>` (one token, `rl_recipes.tiny_models.chat_format`);
- `<tool>.<argument>`: a number written as a call's argument, `multiply.b`;
- `answer`: a number written outside a call;
- None: anything else.

The builder uses the labels twice. It leaves the tasks' decisions (each task's `pretraining.DECISIONS`) out of the
loss of the transcripts that only teach the skill, so that RL still has a decision to learn; and it checks, after
training, that every copy is reliable (`copy_probabilities`): a model that copies a number right only some of the
time caps what any algorithm can reach on a task, whatever it learns about the decisions.
"""

import random
import re
from collections import defaultdict

from rl_recipes.tiny_models.chat_format import CALL_TOKENS, NUMBER_TOKENS


class ToolModelTooWeak(RuntimeError):
    """The built model copies some number less reliably than the build asks."""


def token_texts(tokenizer) -> list[str]:
    """Each token id's text, decoded once for the many transcripts a build labels."""
    return tokenizer.batch_decode([[token] for token in range(len(tokenizer))])


def label_assistant_tokens(ids: list[int], tokenizer, texts: list[str] | None = None) -> list[str | None]:
    """One label per token of `ids` (a rendered transcript), as the module docstring lists them. `texts`:
    `token_texts(tokenizer)`, computed here when not given."""
    texts = texts or token_texts(tokenizer)
    assistant, end = tokenizer.convert_tokens_to_ids("<|assistant|>"), tokenizer.eos_token_id
    call_open, call_close = tokenizer.convert_tokens_to_ids(CALL_TOKENS)
    numbers = set(tokenizer.convert_tokens_to_ids(NUMBER_TOKENS))
    # `tool` is None outside a call, "" right after `<call>`, then the tool's name; `key` the text since the
    # last number in the call (" a="), which names the argument the next number is.
    labels, turn, position, tool, key, after_number = [], -1, None, None, "", False
    for token in ids:
        label, number = None, token in numbers
        if position is not None:  # inside an assistant turn
            if number:
                label = f"{tool}.{argument_name(key)}" if tool else "answer"
            elif position == 0:
                label = f"turn{turn}.start"
            elif tool == "":
                label = f"turn{turn}.tool"
            if token == call_open:
                tool, key = "", ""
            elif tool == "":
                tool = texts[token].strip()
            elif token == call_close:
                tool = None
            elif tool and not number:
                key = texts[token] if after_number else key + texts[token]
            position = None if token == end else position + 1
        elif token == assistant:
            turn, position, tool = turn + 1, 0, None
        after_number = number
        labels.append(label)
    return labels


def argument_name(text: str) -> str:
    """The argument a call's number belongs to, from the text written before it: " b=-" -> "b"."""
    named = re.search(r"(\w+)\s*=[^=]*$", text)
    return named.group(1) if named else "?"


def is_copy(label: str | None, decisions: set[str]) -> bool:
    """Whether a token labelled `label` copies a number the model has read (and is not one of the decisions)."""
    return label is not None and not label.startswith("turn") and label not in decisions


def copy_probabilities(model, tokenizer, task_names, held_out_tasks, task_part) -> dict[str, float]:
    """The mean teacher-forced probability of the right token at each copy, by copy, on the held-out tasks.

    Every solution of every held-out task is written out right (its calls, their results, the answer), and the
    model reads it whole: at each copy position, the probability it gives the number the transcript has there.
    Keys name the task, the solution's calls and the copy: `calculator multiply > add: add.b`.

    `held_out_tasks(name)` gives a task's held-out tasks; `task_part(name, part)` its modules (`pretraining`).
    """
    import torch

    sums, counts, texts = defaultdict(float), defaultdict(int), token_texts(tokenizer)
    rng = random.Random(0)  # the wrong guesses of tool-less transcripts; none is drawn here
    for name in task_names:
        pretraining = task_part(name, "pretraining")
        tools = pretraining.prompt_tools()
        for task in held_out_tasks(name):
            for solution in range(pretraining.solutions(task)):
                messages = pretraining.conversation(task, rng, use_tools=True, solution=solution)
                calls = " > ".join(call["function"]["name"] for m in messages for call in m.get("tool_calls") or [])
                ids = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False)
                labels = label_assistant_tokens(ids, tokenizer, texts)
                with torch.no_grad():
                    logits = model(torch.tensor([ids], device=model.device)).logits[0].float()
                chances = logits.softmax(-1)
                for position, label in enumerate(labels):
                    if is_copy(label, pretraining.DECISIONS):
                        key = f"{name} {calls}: {label}"
                        sums[key] += chances[position - 1, ids[position]].item()
                        counts[key] += 1
    return {key: sums[key] / counts[key] for key in sums}


def check_copies(probabilities: dict[str, float], minimum: float) -> None:
    """Raise `ToolModelTooWeak`, one line naming the weakest copy, when any copy is below `minimum`."""
    weakest = min(probabilities, key=probabilities.get)
    if probabilities[weakest] < minimum:
        raise ToolModelTooWeak(
            f"The tool model copies {weakest} with probability {probabilities[weakest]:.3f} on the held-out tasks, "
            f"below --min_copy_probability {minimum}: build it with more --max_steps (or accept it with "
            "--min_copy_probability 0)."
        )
