"""The calculator's share of the tool model's pretraining: a question, then the calls and the answer, or a guess."""

import random

from rl_recipes.tasks.calculator.data import as_row
from rl_recipes.tasks.calculator.tools import TOOLS


def prompt_tools() -> list:
    """The tools the task's prompts list."""
    return list(TOOLS)


def conversation(task: dict, rng: random.Random, use_tools: bool) -> list[dict]:
    """The question, then the calls and the answer, or (without tools) a guess."""
    messages = list(as_row(task)["prompt"])
    if not use_tools:
        guess = min(999, task["answer"] + rng.choice([-1, 1]) * rng.randint(1, max(2, task["answer"] // 10)))
        return [*messages, {"role": "assistant", "content": f"The answer is {guess}."}]
    for name, arguments, result in task["calls"]:
        messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}],
            }
        )
        messages.append({"role": "tool", "name": name, "content": str(result)})
    messages.append({"role": "assistant", "content": f"The answer is {task['answer']}."})
    return messages
