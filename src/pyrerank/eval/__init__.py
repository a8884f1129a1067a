"""Offline evaluation: the replay-100 protocol on MovieLens-layout data (see docs/EVAL.md)."""
