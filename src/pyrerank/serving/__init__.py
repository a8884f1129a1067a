"""One process's serving state: the item catalog, the shared item statistics, the feature
columns computed from them, the user records held in memory, and the view that keeps all of
them in step with a profile store's log."""
