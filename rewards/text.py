"""What every reward needs: the text of a completion, whether plain or conversational, and what TRL passes it."""

# The keyword arguments TRL passes every reward besides the data set's columns (`environments` in GRPO
# with environments only): never a reward's setting, nor a column.
TRL_CALL_ARGUMENTS = frozenset(
    {"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}
)


def completion_text(completion) -> str:
    """TRL passes a completion as a string, or as a list of chat messages whose last one is the reply."""
    if isinstance(completion, str):
        return completion
    return completion[-1]["content"]


def final_turn(completion) -> str:
    """The text of an agent's last turn: the last assistant message when it calls no tool, else '' (the rollout
    ended on a call or a tool result, without a final turn)."""
    if isinstance(completion, str):
        return completion
    last = completion[-1] if completion else {}
    return last.get("content") or "" if last.get("role") == "assistant" and not last.get("tool_calls") else ""
