"""The record of a benchmark run: ratio tables, Markdown, JSON and work–precision diagrams.

For every peer configuration p of a case (same problem size), two comparisons with fpguide's
configurations f:

* at equal or better error: the fastest f with error(f) ≤ error(p); the time ratio median(p) /
  median(f);
* at equal or less time: the most accurate f with median(f) ≤ median(p); the error ratio error(p) /
  error(f).

Ratios above 1 favour fpguide. A case's ``target`` says which of the two it is judged by.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from .record import FPGUIDE, Case, Config

PANELS_PER_ROW = 4  # work–precision panels (one per problem size) per row of a case's figure


@dataclass
class Comparison:
    peer: Config
    by_error: Config | None  # fastest fpguide configuration at equal or better error
    by_time: Config | None  # most accurate fpguide configuration at equal or less time
    error: str

    @property
    def time_ratio(self) -> float:
        return self.peer.median / self.by_error.median if self.by_error else math.nan

    @property
    def error_ratio(self) -> float:
        return (
            self.peer.errors[self.error] / self.by_time.errors[self.error]
            if self.by_time
            else math.nan
        )


def comparisons(case: Case) -> list[Comparison]:
    out = []
    for peer in (
        c
        for c in case.configs
        if c.package != FPGUIDE and math.isfinite(c.errors.get(case.error, math.nan))
    ):
        own = [c for c in case.configs if c.package == FPGUIDE and c.size == peer.size]
        accurate = [c for c in own if c.errors[case.error] <= peer.errors[case.error]]
        quick = [c for c in own if c.median <= peer.median]
        out.append(
            Comparison(
                peer,
                min(accurate, key=lambda c: c.median, default=None),
                min(quick, key=lambda c: c.errors[case.error], default=None),
                case.error,
            )
        )
    return out


def _fmt(value: float, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.3g}{unit}"


def case_markdown(case: Case, figure: str | None) -> str:
    lines = [f"### {case.title}", ""]
    if figure:
        lines += [f"![{case.name}]({figure})", ""]
    names = sorted({k for c in case.configs for k in c.errors})
    if case.configs:
        lines += [
            "| size | solver | setting | work | median [s] | min [s] | " + " | ".join(names) + " |",
            "|---|---|---|---|---|---|" + "---|" * len(names),
        ]
    for c in case.configs:
        errors = " | ".join(_fmt(c.errors.get(k, math.nan)) for k in names)
        lines.append(
            f"| {c.size} | {c.label} | {c.setting} | {c.work} | {c.median:.4g} | "
            f"{c.best:.4g} | {errors} |" + (f" {c.note}" if c.note else "")
        )
    rows = comparisons(case)
    if rows:
        lines += [
            "",
            f"Against fpguide ({case.error}): time ratio = peer time / time of the "
            "fastest fpguide run with "
            "equal or better error; error ratio = peer error / error of the most accurate "
            "fpguide run that is "
            "not slower (above 1 favours fpguide).",
            "",
            "| size | peer | setting | peer error | fpguide at ≤ error | time ratio | "
            "fpguide at ≤ time | "
            "error ratio |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r.peer.size} | {r.peer.label} | {r.peer.setting} | "
                f"{_fmt(r.peer.errors[case.error])} | "
                f"{r.by_error.setting if r.by_error else 'none'} | "
                f"{_fmt(r.time_ratio, '×')} | "
                f"{r.by_time.setting if r.by_time else 'none'} | "
                f"{_fmt(r.error_ratio, '×')} |"
            )
    # one table per run of equal keys
    for keys, rows in itertools.groupby(case.summary, key=lambda row: list(row)):
        lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_cell(row[k]) for k in keys) + " |" for row in rows]
    for peer, why in case.unavailable.items():
        lines.append(f"\n{peer} did not run: {why}")
    lines += [f"\n{note}" for note in case.notes]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return _fmt(value) if isinstance(value, float) else str(value)


def work_precision_figure(case: Case, path: Path) -> None:
    """Error against median wall time, log–log, one panel per problem size, one line per solver."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(dict.fromkeys(c.size for c in case.configs))
    columns = min(len(sizes), PANELS_PER_ROW)
    rows = -(-len(sizes) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(sizes) :]:
        ax.set_visible(False)
    for ax, size in zip(axes.flat, sizes):
        groups: dict[str, list[Config]] = {}
        for c in case.configs:
            if (
                c.size == size
                and c.errors.get(case.error, 0) > 0
                and math.isfinite(c.errors[case.error])
            ):
                groups.setdefault(c.label, []).append(c)
        for label, runs in groups.items():
            runs.sort(key=lambda c: c.median)
            style = (
                dict(lw=2.2, color="k", marker="o")
                if label.startswith(FPGUIDE)
                else dict(marker="s", lw=1)
            )
            ax.loglog(
                [c.median for c in runs], [c.errors[case.error] for c in runs], label=label, **style
            )
        ax.set(xlabel="median wall time [s]", ylabel=case.error)
        ax.set_title(f"{case.title} {size}".strip(), fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(cases: list[Case], environment: dict, out: Path) -> None:
    """results.json, results.md and one PNG per case in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"environment": environment, "cases": [c.as_dict() for c in cases]}, indent=1)
    )
    parts = [
        "# fpguide benchmark results",
        "",
        "| " + " | ".join(environment) + " |",
        "|" + "---|" * len(environment),
        "| " + " | ".join(str(v) for v in environment.values()) + " |",
        "",
    ]
    for case in cases:
        figure = None
        if case.plot:
            figure = f"{case.name}.png"
            case.plot(out / figure)
        elif any(c.errors for c in case.configs):
            figure = f"{case.name}.png"
            work_precision_figure(case, out / figure)
        parts.append(case_markdown(case, figure))
    (out / "results.md").write_text("\n".join(parts))
