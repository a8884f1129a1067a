"""Built-in encoders: `hashing` (no dependencies), `transformers` and `minilm` (torch)."""
