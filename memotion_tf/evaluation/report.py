"""results.json and results.md, as ../shared/CONTRACT.md fixes them."""

from memotion_tf.io import atomic_write_json, atomic_write_text


def format_summary(summary, digits=3):
    """"mean" for one run, else "mean ± std [min, max]"; "-" when missing or NaN."""
    if summary is None or summary["mean"] != summary["mean"]:
        return "-"
    if len(summary["runs"]) == 1:
        return f"{summary['mean']:.{digits}f}"
    mean, std, low, high = (summary[k] for k in ("mean", "std", "min", "max"))
    return f"{mean:.{digits}f} ± {std:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def results_table(rows, paper_columns, metric_columns):
    """Markdown table lines: system | the paper's numbers | ours | runs."""
    header = ["System"] + [label for _, label in paper_columns] + [label for _, label in metric_columns] + ["runs"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["system"]]
        cells += [
            f"{row['paper'][key]:.3f}" if isinstance(row["paper"].get(key), (int, float)) else "-"
            for key, _ in paper_columns
        ]
        cells += [format_summary(row["metrics"].get(key)) for key, _ in metric_columns]
        cells.append(str(len(row["seeds"])))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def results_header(title, results, scope, corpus, items="memes", details=""):
    """The title, the line that says which data and profile a results.md is
    for, and, on synthetic data, the warning that the numbers only show the
    machinery works. `scope`: e.g. "task A"; `details` goes before the line's
    full stop."""
    data = "synthetic (embedded) data" if results["synthetic"] else "real data"
    lines = [f"# {title}", "",
             f"Dataset `{results['dataset']}` {scope}, {data}, profile `{results['profile']}`{details}."]
    if results["synthetic"]:
        lines.append(f"**These numbers come from synthetic {items}: they show the machinery works, "
                     f"not how the systems compare on {corpus}.**")
    return lines


def results_markdown(results, paper_columns, metric_columns, title, notes=()):
    """One table: system | the paper's numbers | ours (mean ± std [min, max])."""
    lines = results_header(title, results, f"task {results['task']}", "Memotion")
    lines.append("")
    lines.extend(results_table(results["rows"], paper_columns, metric_columns))
    lines.append("")
    lines.extend(notes)
    return "\n".join(lines).rstrip() + "\n"


def write_results(out_dir, results, markdown):
    atomic_write_json(f"{out_dir}/results.json", results)
    atomic_write_text(f"{out_dir}/results.md", markdown)
