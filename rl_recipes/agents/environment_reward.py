"""An environment class's `get_reward` as a reward function, as the trainers and the evaluation add it."""

import inspect
from collections.abc import Callable


def environment_reward_func(environment_class: type) -> Callable:
    """A reward function reading each rollout's environment (`environments`, one per rollout) through its
    `get_reward()`, named after the class (GRPOTrainer's rule: the logs show `rewards/<Class>/mean`).

    A rollout whose environment is of another class gets None, which leaves it out of this reward, as in
    GRPOTrainer with several environments. The function is async when `get_reward` is, so that TRL (and
    the reward guard) await it on their event loop rather than receive a coroutine."""
    if inspect.iscoroutinefunction(environment_class.get_reward):

        async def get_reward(environments, **kwargs):
            return [await e.get_reward() if type(e) is environment_class else None for e in environments]
    else:

        def get_reward(environments, **kwargs):
            return [e.get_reward() if type(e) is environment_class else None for e in environments]

    get_reward.__name__ = environment_class.__name__
    return get_reward
