"""The calculator's questions: each with its answer and the calls that solve it, from a seeded generator."""

import random

QUESTIONS = {
    "subtract": "What is {a} - {b}?",
    "multiply_add": "What is {a} * {b} + {c}?",
}


def make_task(rng: random.Random) -> dict:
    """One question, its answer, and its solutions: each a list of calls (tool name, arguments, result); here one,
    `subtract` for a difference, `multiply` then `add` for `a * b + c`."""
    kind = rng.choice(list(QUESTIONS))
    if kind == "subtract":
        a, b, c = rng.randint(50, 99), rng.randint(10, 49), None
        solutions = [[("subtract", {"a": a, "b": b}, a - b)]]
    else:
        a, b, c = rng.randint(3, 9), rng.randint(12, 99), rng.randint(10, 99)
        solutions = [[("multiply", {"a": a, "b": b}, a * b), ("add", {"a": a * b, "b": c}, a * b + c)]]
    question = QUESTIONS[kind].format(a=a, b=b, c=c)
    return {"question": question, "kind": kind, "answer": solutions[0][-1][2], "solutions": solutions}


def task_key(task: dict) -> str:
    """What makes two tasks the same task: the question."""
    return task["question"]


def as_row(task: dict) -> dict:
    """A data set row: the question as the user's message, and the reference answer for the reward."""
    return {"prompt": [{"role": "user", "content": task["question"]}], "answer": task["answer"]}
