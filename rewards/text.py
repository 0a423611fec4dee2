"""What every reward needs: the text of a completion, whether plain or conversational."""


def completion_text(completion) -> str:
    """TRL passes a completion as a string, or as a list of chat messages whose last one is the reply."""
    if isinstance(completion, str):
        return completion
    return completion[-1]["content"]
