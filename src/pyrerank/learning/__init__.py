"""What ``Reranker.fit`` does: replay a historical log for statistics and training examples,
and factorise co-engagement into collaborative item vectors."""
