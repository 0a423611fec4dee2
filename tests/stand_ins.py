"""Tiny, randomly initialised stand-ins for the Hub models the shipped recipes name.

Each has the architecture class of the model it replaces (Qwen2, GPT-Neo, GPT-2, DistilBERT), a
byte-level BPE tokenizer trained in a second on the story corpus, and is saved with
`save_pretrained`, so recipes load it with `from_pretrained` exactly as they would the real one.
"""

from pathlib import Path

# Qwen2.5's chat format (ChatML), enough for TRL to apply a chat template to conversational prompts.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(chat: bool = False):
    from rl_recipes.tiny_models.story_corpus import generate_corpus
    from rl_recipes.tiny_models.story_model import train_tokenizer

    tokenizer = train_tokenizer(generate_corpus(300, seed=0), vocab_size=400)
    if chat:
        tokenizer.add_tokens(["<|im_start|>", "<|im_end|>"], special_tokens=True)
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _causal_lm_config(architecture: str, tokenizer):
    from transformers import GPT2Config, GPTNeoConfig, LlamaConfig, OPTConfig, Qwen2Config

    special = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if architecture == "qwen2":
        return Qwen2Config(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=512,
            **special,
        )
    if architecture == "llama":
        return LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=512,
            **special,
        )
    if architecture == "gpt_neo":
        return GPTNeoConfig(
            hidden_size=32,
            num_layers=2,
            num_heads=2,
            attention_types=[[["global", "local"], 1]],
            window_size=64,
            max_position_embeddings=512,
            **special,
        )
    if architecture == "gpt2":
        return GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=512, **special)
    if architecture == "opt":  # applies its dropout (config.dropout, 0.1) as a function call, not an nn.Dropout
        return OPTConfig(
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            word_embed_proj_dim=32,
            max_position_embeddings=512,
            **special,
        )
    raise ValueError(f"no stand-in for architecture '{architecture}'")


def build_causal_lm(output_dir: Path, architecture: str, chat: bool = False, pad_token: bool = True, **config) -> Path:
    """A random causal LM of `architecture` (qwen2, llama, gpt_neo, gpt2, opt) with its tokenizer, saved to
    `output_dir`; `pad_token=False` leaves the padding token unset, as GPT-2's own tokenizer does, and `config`
    overrides settings of the model's configuration."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    tokenizer = build_tokenizer(chat=chat)
    model_config = _causal_lm_config(architecture, tokenizer)
    model_config.update(config)
    model = AutoModelForCausalLM.from_config(model_config)
    if not pad_token:
        tokenizer.pad_token = None
        model.config.pad_token_id = None
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return Path(output_dir)


def build_classifier(output_dir: Path, labels: tuple[str, ...] = ("NEGATIVE", "POSITIVE")) -> Path:
    """A random DistilBERT sequence classifier with `labels`, like a Hub sentiment model, saved to `output_dir`."""
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    config = DistilBertConfig(
        vocab_size=len(tokenizer),
        dim=32,
        hidden_dim=64,
        n_layers=2,
        n_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    DistilBertForSequenceClassification(config).save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return Path(output_dir)
