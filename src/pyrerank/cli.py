"""The command line: ``pyrerank demo | bundle | serve | store-settings | eval | plugins``."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from importlib import resources

from .errors import PyrerankError
from .plugins import KINDS, registry


def _demo_items() -> list[dict]:
    return json.loads(resources.files("pyrerank").joinpath("data/demo_items.json").read_text())


def _show(title: str, ranked, before: dict | None, texts: dict, why=None) -> None:
    """Print a ranked list, with each item's move since `before` and, for the top 3, the
    reasons `why(item)` gives."""
    print(f"\n{title}")
    for rank, (item, score) in enumerate(ranked, 1):
        move = ""
        if before is not None:
            old = before.get(item)
            move = (
                "  new"
                if old is None
                else (f"  ↑{old - rank}" if old > rank else f"  ↓{rank - old}" if old < rank else "  =")
            )
        print(f"  {rank:>2}. {score:+.3f}  {texts[item][:70]:<70}{move}")
        if why is not None and rank <= 3:
            for reason in why(item):
                print(f"               ↳ {reason}")


def demo(args: argparse.Namespace) -> int:
    import pyrerank as pr

    items = _demo_items()
    texts = {it["id"]: it["text"] for it in items}
    started = time.perf_counter()
    rr = pr.Reranker(encoder=args.encoder, interest=args.interest, ranker=args.ranker)
    titles = [text.partition(":")[0] for text in texts.values()]
    rr.add_items(list(texts), list(texts.values()), metadata=[{"title": title} for title in titles])
    print(
        f"{len(texts)} items encoded with {rr.encoder.name!r} ({rr.encoder.dim}-d) "
        f"in {time.perf_counter() - started:.1f} s; ranker {rr.ranker.name!r}, interest {rr.interest.name!r}"
    )
    candidates = list(texts)
    random.Random(7).shuffle(candidates)  # a recall stage's order: not the catalog's
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
        now = t0 + 60 * i
        rr.observe(user, item, kind, timestamp=now)
        t = time.perf_counter()
        ranked = rr.rerank(user, candidates, k=args.k, now=now)  # what the user has seen is left out
        took = (time.perf_counter() - t) * 1e6
        _show(
            f"After the user {verb} “{texts[item]}” (rerank of {len(candidates)} took {took:.0f} µs)",
            ranked,
            before,
            texts,
            lambda item, now=now: rr.explain(user, item, now=now).reasons,
        )
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .eval import report
    from .eval.protocol import PROTOCOLS
    from .eval.run import CROSS_TOP, DEFAULT_METHODS, Experiment

    methods = tuple(args.methods.split(",")) if args.methods else DEFAULT_METHODS
    protocols = PROTOCOLS if args.protocol == "all" else (args.protocol,)
    wanted = ("realtime", "static") if args.variant == "both" else (args.variant,)
    started = time.perf_counter()
    results, steps = {}, {}
    for name in protocols:
        experiment = Experiment(
            args.data,
            encoder=args.encoder,
            cache_dir=args.cache_dir,
            seed=args.seed,
            progress=not args.quiet,
            protocol_name=name,
            tune_steps=args.tune_steps,
            cross_steps=args.cross_steps,
        )
        variants = ("realtime",) if name == "cold-items" and len(protocols) > 1 else wanted  # realtime only
        label = "{}" if name == "replay-100" else f"{{}}, {name}"
        for variant in variants:
            results[label.format(variant)] = experiment.run(methods, variant)
            steps[label.format(variant)] = experiment.n_steps
    seconds = time.perf_counter() - started
    print(report.table(results))
    config = {
        "data": str(args.data),
        "data_name": Path(args.data).name,
        "methods": methods,
        "protocols": protocols,
        "seed": args.seed,
        "encoder": experiment.encoder_name,
        "users": len(experiment.split.users),
        "steps": steps,
        "tune_steps": args.tune_steps,
        "cross_steps": args.cross_steps,
        "cross_top": CROSS_TOP,
        "encode_seconds": round(experiment.encode_seconds, 1),
        "total_seconds": round(seconds, 1),
    }
    print(f"\n{config['users']} users; steps {steps}; total {config['total_seconds']} s")
    if args.out:
        for path in report.save(Path(args.out), results, config):
            print(f"wrote {path}")
    return 0


def bundle(args: argparse.Namespace) -> int:
    """Items (and optionally a log to fit on) -> a saved model that `pyrerank serve` opens."""
    import pyrerank as pr

    items = _jsonl(args.items, "items")
    try:
        ids, texts = [row["id"] for row in items], [row["text"] for row in items]
    except (KeyError, TypeError):
        raise PyrerankError(f"{args.items}: every line must be an object with an id and a text") from None
    metadata = [row.get("metadata") for row in items]
    rr = pr.Reranker(
        encoder=args.encoder,
        exact_forget=args.exact_forget,
        forget_horizon=args.forget_horizon,
        max_neighbors=args.max_neighbors,
    )
    rr.add_items(ids, texts, metadata=metadata if any(m is not None for m in metadata) else None)
    if args.events:
        log = _jsonl(args.events, "events")
        try:
            rr.fit([pr.Event(e["user"], e["item"], e.get("kind", "click"), e.get("timestamp")) for e in log])
        except (KeyError, TypeError):
            raise PyrerankError(f"{args.events}: every line must be an object with a user and an item") from None
    rr.save(args.out)
    print(f"saved {len(ids)} items ({rr.encoder.name}) to {args.out}")
    return 0


def _jsonl(path: str, what: str) -> list:
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError as exc:
        raise PyrerankError(f"cannot read the {what} file: {exc.strerror}") from None
    except ValueError as exc:
        raise PyrerankError(f"the {what} file is not JSON lines: {exc}") from None


def serve(args: argparse.Namespace) -> int:
    try:
        from .serve import runner
    except ImportError as exc:
        raise PyrerankError(str(exc)) from None
    runner.run(
        args.bundle,
        args.store,
        host=args.host,
        port=args.port,
        workers=args.workers,
        api_key_file=args.api_key_file,
        max_body_bytes=args.max_body_bytes,
        access_log=args.access_log,
    )
    return 0


def plugins(args: argparse.Namespace) -> int:
    for kind in KINDS:
        print(f"{kind}:")
        for entry in registry.entries(kind):
            how = "factory" if entry.factory is not None else "instance"
            print(f"  {entry.name:<22} from {entry.source} ({how})")
    return 0


def store_settings(args: argparse.Namespace) -> int:
    """Print the item statistics settings a durable store keeps (every process on it must share
    them), or with --clear drop them, so that the next process to open it keeps its own."""
    from .plugins import get_store

    try:
        store = get_store(args.store)
    except ValueError as exc:
        print(f"pyrerank: {exc}", file=sys.stderr)
        return 2
    try:
        if args.clear:
            store.clear_settings()
            print(f"{store!r}: settings cleared; the next process to open it keeps its own")
        else:
            kept = store.claim_settings(None)
            print(kept if kept is not None else f"{store!r} keeps no settings yet")
    finally:
        store.close()
    return 0


def _whole_number(text: str, minimum: int) -> int:
    """`text` as a whole number >= minimum; argparse turns the error into one usage line."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def _positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    return _whole_number(text, 1)


def _horizon(text: str) -> int | None:
    """An argparse type: a whole number >= 0, or "none"."""
    return None if text.lower() == "none" else _whole_number(text, 0)


def main(argv: list[str] | None = None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(prog="pyrerank", description="Real-time personalized re-ranking.")
    parser.add_argument("--version", action="version", version=f"pyrerank {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="show a user's ranking move as feedback arrives")
    p_demo.add_argument("--encoder", default="minilm", help="encoder name (default: minilm)")
    p_demo.add_argument("--interest", default="decay", help="interest model name (default: decay)")
    p_demo.add_argument("--ranker", default="bilinear", help="ranker name (default: bilinear)")
    p_demo.add_argument("-k", type=_positive_int, default=8, help="items to show (default: 8)")
    p_demo.set_defaults(run=demo)
    sub.add_parser("plugins", help="list registered encoders, interest models and rankers").set_defaults(run=plugins)
    p_bundle = sub.add_parser("bundle", help="encode items (JSON lines: id, text, metadata) into a saved model")
    p_bundle.add_argument("items", help='JSON lines, one item each: {"id": ..., "text": ..., "metadata": ...}')
    p_bundle.add_argument("out", help="folder to save the model in")
    p_bundle.add_argument("--encoder", default="minilm", help="encoder name (default: minilm)")
    p_bundle.add_argument("--events", help="JSON lines of logged events (user, item, kind, timestamp) to fit on")
    p_bundle.add_argument(
        "--no-exact-forget",
        dest="exact_forget",
        action="store_false",
        help="keep no per-event contributions: memory and the store's snapshot stay bounded by items; "
        "forget leaves a user's anonymous counts in the statistics",
    )
    p_bundle.add_argument(
        "--forget-horizon",
        type=_horizon,
        default=1_000_000,
        help="latest counted events forget takes out exactly; older ones stay as anonymous counts "
        "(default 1000000; 'none': every event, ~21 bytes each without end)",
    )
    p_bundle.add_argument(
        "--max-neighbors",
        type=_positive_int,
        default=256,
        help="co-engagement links kept per item (default 256; each process holds items x this x 8 bytes)",
    )
    p_bundle.set_defaults(run=bundle)
    p_serve = sub.add_parser("serve", help="serve a saved model over HTTP (needs the serve extra)")
    p_serve.add_argument("bundle", help="a folder written by Reranker.save or `pyrerank bundle`")
    p_serve.add_argument("--store", default="memory", help="profile store URL (default: memory)")
    p_serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p_serve.add_argument("--port", type=_positive_int, default=8000)
    p_serve.add_argument("--workers", type=_positive_int, default=1, help="processes (need a shared store)")
    p_serve.add_argument("--api-key-file", help="require Authorization: Bearer <the key in this file>")
    p_serve.add_argument("--max-body-bytes", type=_positive_int, default=8 << 20)
    p_serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="no uvicorn log line per request (/metrics still counts them)",
    )
    p_serve.set_defaults(run=serve)
    p_settings = sub.add_parser(
        "store-settings", help="show (or --clear) the item statistics settings every process on a store shares"
    )
    p_settings.add_argument("store", help="profile store URL, e.g. sqlite:///events.db or redis://host:6379/0")
    p_settings.add_argument("--clear", action="store_true", help="drop them (stop every process on the store first)")
    p_settings.set_defaults(run=store_settings)
    p_eval = sub.add_parser(
        "eval", help="replay-100, full-ranking and cold-item evaluation on MovieLens-layout data (docs/EVAL.md)"
    )
    p_eval.add_argument("--data", required=True, help="folder with ratings.csv, movies.csv (and tags.csv)")
    p_eval.add_argument(
        "--methods",
        help="comma-separated: random, popularity, co-engagement, content, pyrerank, pyrerank+text (also observes "
        "the tags users wrote), pyrerank+tuned (its encoder tuned on the train log first, see --tune-steps), "
        "pyrerank+cross (a cross-encoder trained on the train log re-scores the default's top 10, see "
        "--cross-steps), pyrerank:<ranker> (default: all but the last four)",
    )
    p_eval.add_argument("--variant", choices=["realtime", "static", "both"], default="both")
    p_eval.add_argument(
        "--protocol",
        choices=["replay-100", "full", "cold-items", "all"],
        default="replay-100",
        help="replay-100: the target among 99 sampled unrated items; full: among every item not yet "
        "observed; cold-items: 20%% of items never seen by fit or counts (realtime only); all: the three, "
        "in one report",
    )
    p_eval.add_argument("--encoder", default="minilm", help="encoder for item texts (default: minilm)")
    p_eval.add_argument(
        "--cache-dir",
        default=os.path.expanduser("~/.cache/pyrerank"),
        help="keep encoded texts here so reruns skip encoding",
    )
    p_eval.add_argument("--seed", type=int, default=0)
    p_eval.add_argument(
        "--tune-steps", type=int, default=150, help="pyrerank+tuned: steps of pr.tune_encoder (kept in --cache-dir)"
    )
    p_eval.add_argument(
        "--cross-steps",
        type=int,
        default=200,
        help="pyrerank+cross: steps of pr.train_cross_encoder (kept in --cache-dir)",
    )
    p_eval.add_argument("--out", help="write results.json and ndcg.png here")
    p_eval.add_argument("--quiet", action="store_true", help="no progress bars")
    p_eval.set_defaults(run=evaluate)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except PyrerankError as exc:
        print(f"pyrerank: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
