"""Built-in rankers: `cosine`, `fusion` and `mmr`."""
