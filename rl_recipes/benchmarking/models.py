"""The models of the modes that vary size (`launch_memory`, `cost_growth`): the tiny model's configuration widened
and deepened, with random weights."""

from pathlib import Path

import torch


def scaled_model(tiny_model_dir: str, hidden_size: int, layers: int, output_dir: Path) -> int:
    """The tiny model's configuration widened and deepened, with random weights, saved with its tokenizer; returns
    its number of parameters."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model_dir)
    head_dim = config.hidden_size // config.num_attention_heads
    config.hidden_size, config.num_hidden_layers = hidden_size, layers
    config.intermediate_size = 3 * hidden_size
    config.num_attention_heads = config.num_key_value_heads = hidden_size // head_dim
    config.use_cache = True  # the tiny model was trained without a KV cache; generating without one is quadratic
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(output_dir)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(output_dir)
    return model.num_parameters()
