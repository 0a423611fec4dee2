"""The embedded default: a story corpus generator (`corpus`) and the tiny Llama model trained on it (`model`)."""
