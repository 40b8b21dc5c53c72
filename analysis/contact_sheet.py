"""The contact sheet: one HTML page showing every figure with its generated caption.

Why: a reader (or reviewer) checks all figures at once, each next to what it plots, its n, its
interval method and its data source, all written from the data by the figure functions.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

PREFERRED = (".png", ".svg", ".pdf")


def _shown(paths: Sequence[Path]) -> Path | None:
    """The file to show on the page: PNG, else SVG, else PDF."""
    for suffix in PREFERRED:
        for path in paths:
            if path.suffix == suffix:
                return path
    return None


def write_contact_sheet(
    written: Mapping[str, Sequence[Path]], out: str | Path, db: str | Path = ""
) -> Path:
    """Write `out`/index.html: each figure (or why it is missing), its caption and its files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ai-strata figures</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "figure{margin:2em 0;border-top:1px solid #ccc;padding-top:1em}"
        "img{max-width:100%}figcaption{font-size:90%}</style></head><body>",
        "<h1>ai-strata figures</h1>",
        f"<p>Drawn from {html.escape(str(db))}. Each image is at print size (241 pt = one column, "
        "506 pt = two columns; 300 dpi); each has a CSV of exactly the plotted numbers.</p>",
    ]
    for key, paths in written.items():
        shown = _shown(paths)
        if shown is None:
            parts.append(
                f"<figure id='{key}'><h2>{key}</h2><p>Not drawn: its input is missing "
                "(the report names it).</p></figure>"
            )
            continue
        stem = shown.stem
        caption_file = shown.with_name(f"{stem}.caption.txt")
        caption = caption_file.read_text(encoding="utf-8").strip() if caption_file.exists() else ""
        if shown.suffix == ".pdf":
            body = f"<object data='{html.escape(shown.name)}' type='application/pdf' width='100%' height='500'></object>"
        else:
            body = f"<img src='{html.escape(shown.name)}' alt='{html.escape(stem)}'>"
        files = " · ".join(
            f"<a href='{html.escape(p.name)}'>{html.escape(p.suffix[1:])}</a>" for p in paths
        )
        parts.append(
            f"<figure id='{key}'><h2>{key}: {html.escape(stem)}</h2>{body}"
            f"<figcaption><p>{html.escape(caption)}</p><p>Files: {files}</p></figcaption></figure>"
        )
    parts.append("</body></html>")
    path = out / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text("\n".join(parts) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
