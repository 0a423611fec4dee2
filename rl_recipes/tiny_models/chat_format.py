"""The embedded tool model's chat format: special tokens, a chat template that can express tool calls and
their results, and the response template that TRL's parser reads the calls back with.

A conversation renders as

    <|system|> add(a,b) multiply(a,b)<|end|><|user|>What is 347 + 589?<|end|>
    <|assistant|><call>add a=347 b=589</call><|end|><|tool|>936<|end|><|assistant|>The answer is 936.<|end|>

Short role markers keep transcripts short, and every whole number below 1000 is one token, so that
copying a number (from the question into a call, from a result into the answer) is one step a tiny
model learns quickly; longer numbers are written digit by digit. Each tool's name is one token too: a
name spelt in pieces can be shaved by RL into a piece that names no tool (`mult`).
The template is prefix-preserving (a conversation renders as the start of any longer one), which is
what lets the tokens after a tool call be computed by rendering alone, without re-tokenising what the
model generated; `<|end|>` ends every turn and is the end-of-sequence token, so generation stops at
the end of an assistant turn.
"""

import re

EOS_TOKEN = "<|end|>"
PAD_TOKEN = "<|pad|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]
# Kept as text when decoding (not special tokens): a malformed call must stay visible in the transcript.
CALL_TOKENS = ["<call>", "</call>"]
NUMBER_TOKENS = [str(number) for number in range(1000)]

CHAT_TEMPLATE = (
    "{%- if tools -%}<|system|>{%- for tool in tools %} {{ tool.function.name }}"
    "({{ tool.function.parameters.properties | list | join(',') }}){%- endfor %}<|end|>{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'assistant' -%}<|assistant|>{{ message.content or '' }}"
    "{%- for call in message.tool_calls or [] %}<call>{{ call.function.name }}"
    "{%- for key, value in call.function.arguments.items() %} {{ key }}={{ value }}{%- endfor %}</call>{%- endfor %}"
    "<|end|>"
    "{%- else -%}<|{{ message.role }}|>{{ message.content }}<|end|>"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)

# transformers' response template (read by `tokenizer.parse_response`, which TRL's `parse_response` calls):
# `<call>NAME k=v k=v</call>` becomes a tool call whose arguments are typed by the tool's signature.
RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|assistant|>",
    "fields": {
        "tool_calls": {
            "open_pattern": r"<call>(?P<name>\w+)",
            "close_pattern": r"</call>",
            "repeats": True,
            "content": "kv-lines",
            "content_args": {"line_sep": " ", "kv_sep": "="},
            "transform": {"type": "function", "function": {"name": "{name}", "arguments": "{content}"}},
        },
        "content": {"close_pattern": r"<\|end\|>|$", "content": "text"},
    },
}


def train_tokenizer(texts: list[str], vocab_size: int, whole_words: list[str] = ()):
    """A byte-level BPE tokenizer trained on `texts`, with one token per number below 1000 (longer numbers one per
    digit) and per word of `whole_words` (the tools' names), the chat format's tokens, chat template and response
    template set. The whole words are left out of the BPE's training, so no piece of one is a token of its own."""
    from tokenizers import ByteLevelBPETokenizer, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    pieces = [re.sub("|".join(map(re.escape, whole_words)), " ", text) if whole_words else text for text in texts]
    bpe.train_from_iterator(
        pieces, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS_TOKEN, PAD_TOKEN, *ROLE_TOKENS]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side="left",
        additional_special_tokens=ROLE_TOKENS,
    )
    tokenizer.add_tokens(
        CALL_TOKENS + list(whole_words) + NUMBER_TOKENS
    )  # matched whole, longest first, before the BPE splits text
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.response_template = RESPONSE_TEMPLATE
    return tokenizer
