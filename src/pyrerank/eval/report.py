"""Print, save and chart the results of `pyrerank eval`."""

from __future__ import annotations

import json
from pathlib import Path

METRIC_COLUMNS = ("HR@10", "NDCG@10", "MRR", "coverage", "diversity", "novelty", "AUC")


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown table: one row per (method, variant); "–" where a method has no such figure (AUC:
    only click models have one)."""
    lines = ["| method | variant | " + " | ".join(METRIC_COLUMNS) + " |", "|---|---|" + "---|" * len(METRIC_COLUMNS)]
    for variant, by_method in results.items():
        for method, m in by_method.items():
            cells = [f"{m[c]:.3f}" if c in m else "–" for c in METRIC_COLUMNS]
            lines.append(f"| {method} | {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save(out: Path, results: dict, config: dict) -> list[Path]:
    """results.json (every figure and the configuration) and ndcg.png; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json"]
    written[0].write_text(json.dumps({"config": config, "results": results}, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return written  # the chart needs the eval extra; the JSON is the record
    methods = list(next(iter(results.values())))
    variants = list(results)
    fig, ax = plt.subplots(figsize=(1.6 * len(methods) + 2, 4))
    width = 0.8 / len(variants)
    for v, variant in enumerate(variants):
        values = [results[variant][m]["NDCG@10"] for m in methods]
        bars = ax.bar([i + v * width for i in range(len(methods))], values, width, label=variant)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks([i + width * (len(variants) - 1) / 2 for i in range(len(methods))], methods)
    ax.set_ylabel("NDCG@10")
    ax.set_title(f"{', '.join(config['protocols'])} on {config['data_name']} (seed {config['seed']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "ndcg.png", dpi=120)
    plt.close(fig)
    written.append(out / "ndcg.png")
    return written
