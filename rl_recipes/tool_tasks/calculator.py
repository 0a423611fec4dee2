"""The calculator task: arithmetic a tiny model cannot do in its head, with stateless tools that can.

A question asks for the difference of two two-digit numbers, one call ("What is 89 - 47?"), or for a
product and then a sum, which takes two calls, the second using the first's result ("What is 7 * 83 +
15?"). Every number stays below 1000, one token each for the tiny model (`chat_format`).
The reward is 1 when the last number of the final answer is right (`rewards.calculator.calculator_answer`).
"""

import random

QUESTIONS = {
    "subtract": "What is {a} - {b}?",
    "multiply_add": "What is {a} * {b} + {c}?",
}


def add(a: int, b: int) -> int:
    """Add two whole numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def subtract(a: int, b: int) -> int:
    """Subtract one whole number from another.

    Args:
        a: The number to subtract from.
        b: The number to subtract.
    """
    return a - b


def multiply(a: int, b: int) -> int:
    """Multiply two whole numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a * b


TOOLS = [add, subtract, multiply]


def make_task(rng: random.Random) -> dict:
    """One question, its answer, and the calls that solve it, as (tool name, arguments, result)."""
    kind = rng.choice(list(QUESTIONS))
    if kind == "subtract":
        a, b = rng.randint(50, 99), rng.randint(10, 49)
        calls = [("subtract", {"a": a, "b": b}, a - b)]
    else:
        a, b, c = rng.randint(3, 9), rng.randint(12, 99), rng.randint(10, 99)
        calls = [("multiply", {"a": a, "b": b}, a * b), ("add", {"a": a * b, "b": c}, a * b + c)]
    question = QUESTIONS[kind].format(a=a, b=b, c=c if kind == "multiply_add" else None)
    return {"question": question, "answer": calls[-1][2], "calls": calls}


def transcript(task: dict, rng: random.Random, use_tools: bool) -> list[dict]:
    """The messages after the question: the calls and the answer, or (without tools) a guess."""
    if not use_tools:
        guess = min(999, task["answer"] + rng.choice([-1, 1]) * rng.randint(1, max(2, task["answer"] // 10)))
        return [{"role": "assistant", "content": f"The answer is {guess}."}]
    messages = []
    for name, arguments, result in task["calls"]:
        messages.append({"role": "assistant", "content": "",
                         "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}]})
        messages.append({"role": "tool", "name": name, "content": str(result)})
    messages.append({"role": "assistant", "content": f"The answer is {task['answer']}."})
    return messages


def as_row(task: dict) -> dict:
    """A data set row: the question as the user's message, and the reference answer for the reward."""
    return {"prompt": [{"role": "user", "content": task["question"]}], "answer": task["answer"]}
