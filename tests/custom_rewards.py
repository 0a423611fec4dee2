"""Rewards defined outside the registry, loaded by dotted path (`tests.custom_rewards.<name>`)."""

import asyncio
import json
import os
import threading
import time

import numpy as np
import torch


def brevity(completions, **kwargs):
    """A user's own reward: shorter completions score higher."""
    return [-float(len(c.split())) for c in completions]


def recorded_a_words(prompts, completions, trainer_state, **kwargs):
    """The a-word reward, appending what each process scored at each step to $REWARD_CALLS_LOG."""
    from rewards import a_words

    with open(os.environ["REWARD_CALLS_LOG"], "a") as log:
        record = {"rank": int(os.environ.get("RANK", 0)), "step": trainer_state.global_step, "prompts": prompts}
        log.write(json.dumps(record) + "\n")
    return a_words(completions)


NOT_A_FUNCTION = 42


def fails_from_step_3(completions, trainer_state, **kwargs):
    """A buggy reward: fine for two steps, then it raises."""
    if trainer_state.global_step >= 2:
        raise ValueError("lookup table is empty")
    return [1.0] * len(completions)


def one_value_short(completions, **kwargs):
    return [1.0] * (len(completions) - 1)


def text_not_number(completions, **kwargs):
    return ["high"] * len(completions)


def nan_for_odd(completions, **kwargs):
    """NaN for every other completion: half of each batch is unusable."""
    return [float("nan") if i % 2 else float(len(c)) for i, c in enumerate(completions)]


def infinite(completions, **kwargs):
    return [float("inf")] * len(completions)


def slow(completions, **kwargs):
    """A reward that takes 10 seconds, for a step long enough to signal into twice; it says when it starts."""
    print("scoring a batch", flush=True)
    time.sleep(10)
    return [1.0] * len(completions)


async def async_a_words(prompts, completions, completion_ids, trainer_state, log_extra, log_metric, **kwargs):
    """An async reward, as one that awaits a remote judge would be, taking every keyword TRL passes by name.
    It logs whether it ran off the main thread, on the event loop TRL awaits async rewards on."""
    from rewards import a_words

    await asyncio.sleep(0)
    log_metric("async_a_words/off_main_thread", float(threading.current_thread() is not threading.main_thread()))
    log_extra("async_a_words_step", [trainer_state.global_step] * len(completions))
    assert len(completion_ids) == len(completions)
    return [int(score) for score in a_words(completions)]  # ints, as TRL accepts


def a_words_array(completions, **kwargs):
    """The a-word reward as a numpy array."""
    from rewards import a_words

    return np.array(a_words(completions))


def a_words_tensor(completions, **kwargs):
    """The a-word reward as a torch tensor."""
    from rewards import a_words

    return torch.tensor(a_words(completions))


def none_at_step_2(completions, trainer_state, **kwargs):
    """The a-word reward, but no value for any sample of the second step (a judge that was down for a while)."""
    from rewards import a_words

    return [None] * len(completions) if trainer_state.global_step == 1 else a_words(completions)
