"""Built-in interest models: `decay`, `multi` and `logistic`."""
