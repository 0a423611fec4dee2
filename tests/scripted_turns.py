"""Scripted assistant turns in place of a model's own: a patch of `GenerationMixin.generate`.

Our agent trainers (`AgentRLOOTrainer`, `AgentReinforceTrainer`) and TRL's `GRPOTrainer` all generate through
`model.generate` when vLLM is off: a left-padded batch of token ids in, the same ids followed by the new tokens out,
of which the trainers keep what follows the prompt up to the first end-of-sequence token. TRL's own tests replace
`model.generate` the same way (`patch.object(trainer.model, "generate", side_effect=fake_generate)`); patching the
class instead reaches a model that a recipe script loads itself, so one patch drives every trainer identically.

For each row of the batch, the row's text (pad tokens left out, special tokens kept, so the chat's role markers show
where each turn begins) goes to a script, which answers the row's next assistant turn as text, e.g.
`<call>move direction=up</call><|end|>` (the tiny tool model's chat format, `rl_recipes.tiny_models.chat_format`).
The turn is tokenised without special tokens and returned after the row, right-padded with the pad token to the
longest turn of the batch, and cut to the generation config's `max_new_tokens`, as generate would.

A script is `script(conversation) -> str`, `script(conversation, row) -> str` where `row` is the row's position in
the batch (TRL's tests give the rollouts of one prompt different turns by their position in the first batch), or
`script(conversation, row, batch) -> str` where `batch` is every row's conversation (to tell, say, the first rollout
of each task in the batch from the others, wherever the sampler put them).
"""

import inspect
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch


@dataclass
class ScriptedCalls:
    """What the patched generate saw: one entry per call, the batch's conversations (as the script saw them)."""

    batches: list[list[str]] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.batches)

    @property
    def rows(self) -> int:
        return sum(map(len, self.batches))


def _script_arity(script: Callable) -> int:
    """How many of (conversation, row, batch) the script takes."""
    return min(3, len(inspect.signature(script).parameters))


@contextmanager
def scripted_turns(tokenizer, script: Callable, monkeypatch=None):
    """Within the block, every `model.generate` answers from `script` (see the module docstring); yields the
    `ScriptedCalls` record. `tokenizer` is the model's tokenizer (its pad token, and how the turns are tokenised)."""
    from transformers.generation.utils import GenerationMixin

    record = ScriptedCalls()
    pad = tokenizer.pad_token_id
    arity = _script_arity(script)

    def generate(self, input_ids=None, attention_mask=None, generation_config=None, **kwargs):
        if input_ids is None:
            raise TypeError("scripted generate needs input_ids")
        limit = getattr(generation_config, "max_new_tokens", None) or kwargs.get("max_new_tokens")
        conversations = []
        for index, row in enumerate(input_ids.tolist()):
            if attention_mask is not None:
                row = [token for token, keep in zip(row, attention_mask[index].tolist()) if keep]
            else:
                row = [token for token in row if token != pad]
            conversations.append(tokenizer.decode(row, skip_special_tokens=False))
        turns = []
        for index, conversation in enumerate(conversations):
            turn = script(*(conversation, index, conversations)[:arity])
            ids = tokenizer(turn, add_special_tokens=False)["input_ids"]
            turns.append(ids[:limit] if limit else ids)
        record.batches.append(conversations)
        width = max(1, max(map(len, turns)))
        new = torch.full((len(turns), width), pad, dtype=input_ids.dtype, device=input_ids.device)
        for index, ids in enumerate(turns):
            if ids:
                new[index, : len(ids)] = torch.tensor(ids, dtype=input_ids.dtype)
        return torch.cat([input_ids, new], dim=-1)

    if monkeypatch is not None:
        monkeypatch.setattr(GenerationMixin, "generate", generate)
        yield record
        return
    original = GenerationMixin.generate
    GenerationMixin.generate = generate
    try:
        yield record
    finally:
        GenerationMixin.generate = original


def tool_results(conversation: str) -> int:
    """How many tool turns a conversation (as a script sees it) holds so far: the round a rollout is in."""
    return conversation.count("<|tool|>")


def last_tool_result(conversation: str) -> str:
    """The text of the last tool turn of a conversation (as a script sees it), or '' when there is none."""
    if "<|tool|>" not in conversation:
        return ""
    return conversation.rsplit("<|tool|>", 1)[1].split("<|end|>", 1)[0]
