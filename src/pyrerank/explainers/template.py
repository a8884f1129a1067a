"""Reasons from fixed sentences: no model, no network, the same words every time."""

from __future__ import annotations

from ..interfaces import Evidence, Explainer

SHARE = 0.1  # a part is a reason when it is at least this share of the positive parts' sum


def _names(pairs: tuple[tuple[str, float], ...]) -> str:
    """ "*A*", "*A* and *B*", "*A*, *B* and *C*"."""
    names = [f"*{name}*" for name, _ in pairs]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class TemplateExplainer(Explainer):
    """One sentence per part that carries the item's score, strongest first: the liked items it
    resembles, the items others engaged with alongside it, the typed query, trending,
    popularity, recent activity, the recall stage's score."""

    name = "template"

    def reasons(self, evidence: Evidence) -> list[str]:
        parts = evidence.parts
        positive = sum(v for k, v in parts.items() if k != "score" and v > 0)
        if positive <= 0:
            return ["nothing is known about your taste yet: this is the order the app proposed"]
        sentences = {
            "similarity": f"because you liked {_names(evidence.liked)}" if evidence.liked else None,
            "recent_similarity": f"because you liked {_names(evidence.liked)}" if evidence.liked else None,
            "co_engagement": (
                f"people who liked {_names(evidence.co_engaged)} also liked this" if evidence.co_engaged else None
            ),
            "search_similarity": f"matches your search “{evidence.query}”" if evidence.query else None,
            "recent_popularity": "trending now",
            "popularity": "popular with everyone",
            "recency": "people are engaging with it right now",
            "upstream": "ranked high by the app's own search",
        }
        out = []
        for part, value in sorted(parts.items(), key=lambda kv: -kv[1]):
            sentence = sentences.get(part)
            if sentence and value >= SHARE * positive and sentence not in out:
                out.append(sentence)
        return out
