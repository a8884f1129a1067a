"""The command line: ``pyrerank demo`` and ``pyrerank plugins``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import resources

from .errors import PyrerankError
from .plugins import KINDS, registry


def _demo_items() -> list[dict]:
    return json.loads(resources.files("pyrerank").joinpath("data/demo_items.json").read_text())


def _show(title: str, ranked, before: dict | None, texts: dict) -> None:
    print(f"\n{title}")
    for rank, (item, score) in enumerate(ranked, 1):
        move = ""
        if before is not None:
            old = before.get(item)
            move = "  new" if old is None else (f"  ↑{old - rank}" if old > rank else f"  ↓{rank - old}" if old < rank else "  =")
        print(f"  {rank:>2}. {score:+.3f}  {texts[item][:70]:<70}{move}")


def demo(args: argparse.Namespace) -> int:
    import pyrerank as pr

    items = _demo_items()
    texts = {it["id"]: it["text"] for it in items}
    started = time.perf_counter()
    rr = pr.Reranker(encoder=args.encoder, interest=args.interest, ranker=args.ranker)
    rr.add_items(list(texts), list(texts.values()))
    print(f"{len(texts)} items encoded with {rr.encoder.name!r} ({rr.encoder.dim}-d) "
          f"in {time.perf_counter() - started:.1f} s; ranker {rr.ranker.name!r}, interest {rr.interest.name!r}")
    candidates = list(texts)
    user, t0 = "demo-user", time.time()
    steps = [
        ("likes", "starfall", "like"),
        ("clicks", "android-dreams", "click"),
        ("dislikes", "haunted-manor", "dislike"),
        ("likes", "ocean-deep", "like"),
    ]
    ranked = rr.rerank(user, candidates, k=args.k)
    _show("A new user: no signal yet, so the recall order stands", ranked, None, texts)
    for i, (verb, item, kind) in enumerate(steps):
        before = {it: r for r, (it, _) in enumerate(ranked, 1)}
        rr.observe(user, item, kind, timestamp=t0 + 60 * i)
        candidates.remove(item)  # as a recall stage would: no re-showing what the user just saw
        t = time.perf_counter()
        ranked = rr.rerank(user, candidates, k=args.k)
        took = (time.perf_counter() - t) * 1e6
        _show(f"After the user {verb} “{texts[item]}” (rerank of {len(candidates)} took {took:.0f} µs)",
              ranked, before, texts)
    return 0


def plugins(args: argparse.Namespace) -> int:
    for kind in KINDS:
        print(f"{kind}:")
        for entry in registry.entries(kind):
            how = "factory" if entry.factory is not None else "instance"
            print(f"  {entry.name:<22} from {entry.source} ({how})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyrerank", description="Real-time personalized re-ranking.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="show a user's ranking move as feedback arrives")
    p_demo.add_argument("--encoder", default="minilm", help="encoder name (default: minilm)")
    p_demo.add_argument("--interest", default="decay", help="interest model name (default: decay)")
    p_demo.add_argument("--ranker", default="fusion", help="ranker name (default: fusion)")
    p_demo.add_argument("-k", type=int, default=8, help="items to show (default: 8)")
    p_demo.set_defaults(run=demo)
    sub.add_parser("plugins", help="list registered encoders, interest models and rankers").set_defaults(run=plugins)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except PyrerankError as exc:
        print(f"pyrerank: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
