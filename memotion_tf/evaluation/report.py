"""The Markdown of results.md: ours beside the paper's numbers, with the trivial baselines."""


def format_summary(summary, digits=3):
    """"mean" for one run, else "mean ± std [min, max]"; "-" when missing or NaN."""
    if summary is None or summary["mean"] != summary["mean"]:
        return "-"
    if len(summary["runs"]) == 1:
        return f"{summary['mean']:.{digits}f}"
    mean, std, low, high = (summary[k] for k in ("mean", "std", "min", "max"))
    return f"{mean:.{digits}f} ± {std:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def format_paper_value(value, digits=3):
    """A number the paper reports: "0.329", a range [low, high] as "0.45-0.46", or "-"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]:.2f}-{value[1]:.2f}"
    return "-"


def results_table(rows, paper_columns, metric_columns, baselines=()):
    """Markdown table lines: system | the paper's numbers | ours | runs; the
    trivial baselines last, in italics, computed on the same split."""
    header = ["System"] + [label for _, label in paper_columns] + [label for _, label in metric_columns] + ["runs"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in list(rows) + [dict(b, system=f"*{b['system']}*") for b in baselines]:
        cells = [row["system"]]
        cells += [format_paper_value(row.get("paper", {}).get(key)) for key, _ in paper_columns]
        cells += [format_summary(row["metrics"].get(key)) for key, _ in metric_columns]
        cells.append(str(len(row["seeds"])) if row.get("seeds") else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def results_header(title, results, scope, corpus, items="memes", details=""):
    """The title, the line that says which data and profile a results.md is
    for, and, on synthetic data, the warning that the numbers only show the
    machinery works. `scope`: e.g. "task A"; `details` goes before the line's
    full stop."""
    data = "synthetic data" if results["synthetic"] else "real data"
    origin = results.get("provenance", {})
    where = f" (`{origin['data_dir']}`, fingerprint `{origin['data_fingerprint']}`)" if origin.get("data_dir") else ""
    lines = [f"# {title}", "",
             f"Dataset `{results['dataset']}` {scope}, {data}{where}, profile `{results['profile']}`{details}."]
    if results["synthetic"]:
        lines.append(f"**These numbers come from synthetic {items}: they show the machinery works, "
                     f"not how the systems compare on {corpus}.**")
    return lines


def results_markdown(results, paper, scope=None, corpus=None, items="memes"):
    """One table: system | the paper's numbers | ours (mean ± std [min, max]) |
    runs, the baselines under it, then the paper's notes."""
    lines = results_header(paper.title, results, scope or f"task {results['task']}", corpus or results["dataset"],
                           items=items)
    data = results.get("data") or {}
    if all(isinstance(data.get(k), int) and data[k] > 0 for k in ("train", "val")):
        # The split every row trained and was scored on (a quick profile may train on a subsample).
        lines.append(f"Split: {data['train']:,} training / {data['val']:,} validation memes.")
    lines.append("")
    lines.extend(results_table(results["rows"], paper.paper_columns, paper.metric_columns,
                               results.get("baselines", ())))
    lines.append("")
    lines.append("Ours: mean ± sample std [min, max] over the runs. Rows in italics are trivial baselines "
                 "computed by the same code on the same split.")
    lines.extend(f"- {note}" for note in paper.notes)
    return "\n".join(lines).rstrip() + "\n"
