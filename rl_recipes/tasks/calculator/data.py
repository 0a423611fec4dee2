"""The calculator's questions: each with its answer and the calls that solve it, drawn from a seeded generator."""

import random

QUESTIONS = {
    "subtract": "What is {a} - {b}?",
    "multiply_add": "What is {a} * {b} + {c}?",
}


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


def task_key(task: dict) -> str:
    """What makes two tasks the same task: the question."""
    return task["question"]


def as_row(task: dict) -> dict:
    """A data set row: the question as the user's message, and the reference answer for the reward."""
    return {"prompt": [{"role": "user", "content": task["question"]}], "answer": task["answer"]}
