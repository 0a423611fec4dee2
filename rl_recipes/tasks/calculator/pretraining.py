"""The calculator's share of the tool model's pretraining: a question, then the calls and the answer, or a guess."""

import random

from rl_recipes.tasks.calculator.data import as_row
from rl_recipes.tasks.calculator.tools import TOOLS

# What the tool model is left to learn by RL (`rl_recipes.tiny_models.transcript_tokens`): whether to call a tool
# or guess (the first token), and which tool to call first.
DECISIONS = {"turn0.start", "turn0.tool"}


def prompt_tools() -> list:
    """The tools the task's prompts list."""
    return list(TOOLS)


def conversation(task: dict, rng: random.Random, use_tools: bool, solution: int | None = None) -> list[dict]:
    """The question, then the calls of one of its solutions (`solution`, or one drawn) and the answer, or (without
    tools) a guess."""
    messages = list(as_row(task)["prompt"])
    if not use_tools:
        guess = min(999, task["answer"] + rng.choice([-1, 1]) * rng.randint(1, max(2, task["answer"] // 10)))
        return [*messages, {"role": "assistant", "content": f"The answer is {guess}."}]
    calls = task["solutions"][rng.randrange(len(task["solutions"])) if solution is None else solution]
    for name, arguments, result in calls:
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


def solutions(task: dict) -> int:
    """How many ways of calls solve `task`."""
    return len(task["solutions"])
