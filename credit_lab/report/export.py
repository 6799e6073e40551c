"""An executed stage notebook as the code-free HTML report readers open.

nbconvert writes the notebook's outputs without its code. Sections that show nothing are left out
(:func:`without_empty_sections`): a part a stage skipped is said once, in a sentence at the top of
its report (:mod:`credit_lab.report.sections`), not by a row of empty headings. :func:`finish_report` then
makes the page easier to read and use:

- a table of contents at the top, linking to every section heading (nbconvert's heading ids);
- every figure's ``alt`` text: the description the kernel stored with it
  (:func:`credit_lab.report.style.setup_notebook`), else the section it is in, never nbconvert's
  placeholder;
- the styles of the report tables and, when a table is long, the one small script that makes
  such tables searchable and sortable (:data:`credit_lab.report.tables.TABLE_SCRIPT`): embedded
  once per report;
- nothing loaded from the network: the template's require.js (for widgets) and MathJax (the reports
  hold no formulas; it would typeset a ``$`` in a customer's name) are dropped, so a report opened
  offline, or from a share without internet access, is complete.

Everything added depends only on the notebook, so a rerun writes the same bytes.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from credit_lab.report.tables import TABLE_CSS, TABLE_SCRIPT

logger = logging.getLogger(__name__)

__all__ = ["figure_descriptions", "finish_report", "report_html", "without_empty_sections"]

_PLACEHOLDER = "No description has been provided for this image"


def _payload(data: str) -> str:
    return "".join(data.split())


def _is_section_heading(cell: Any) -> bool:
    return cell.cell_type == "markdown" and re.match(r"#{2,3}\s", cell.source.lstrip()) is not None


def without_empty_sections(nb: Any) -> Any:
    """The notebook without its sections (``##``/``###`` heading to the next) whose code cells all showed nothing.

    A section of text only (no code cell) stays; so does everything before the first section heading.
    The notebook is changed in place and returned.
    """
    kept: list = []
    section: list = []

    def close() -> None:
        code = [c for c in section if c.cell_type == "code"]
        if not code or any(c.get("outputs") for c in code):
            kept.extend(section)
        section.clear()

    for cell in nb.cells:
        if _is_section_heading(cell):
            close()
            section.append(cell)
        elif section:
            section.append(cell)
        else:
            kept.append(cell)
    close()
    nb.cells = kept
    return nb


def figure_descriptions(nb: Any) -> dict[str, str]:
    """The description stored with each PNG output of a notebook, keyed by its base64 data (whitespace removed)."""
    out: dict[str, str] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            png = output.get("data", {}).get("image/png")
            alt = output.get("metadata", {}).get("image/png", {}).get("alt")
            if png and alt:
                out[_payload(png)] = alt
    return out


def finish_report(page: str, descriptions: dict[str, str] | None = None) -> str:
    """Add the table of contents, the figures' alt text and the table styles and script to an nbconvert HTML page.

    Parameters
    ----------
    page : str
        The page nbconvert wrote (``HTMLExporter``, lab template).
    descriptions : dict, optional
        Alt text per image, keyed by the image's base64 data (:func:`figure_descriptions`).

    Returns
    -------
    str
        The page; headings get unique ids if two share one.
    """
    from bs4 import BeautifulSoup  # nbconvert's own dependency: it parses its output with it too

    soup = BeautifulSoup(page, "html.parser")
    for script in soup.find_all("script"):
        # the template's loaders: require.js and MathJax by src, and mermaid by a dynamic import from a CDN
        # (run only when a page holds a diagram; ours hold none, and a report must never reach the network)
        if script.get("src") or script.get("type") == "text/x-mathjax-config" or "https://" in (script.string or ""):
            script.decompose()
    _add_contents(soup)
    _add_alt_text(soup, descriptions or {})
    if soup.head is not None:
        style = soup.new_tag("style")
        style.string = TABLE_CSS
        soup.head.append(style)
    if soup.select_one("table.cl-interactive") is not None and soup.body is not None:
        script = soup.new_tag("script")
        script.string = TABLE_SCRIPT
        soup.body.append(script)
    return str(soup)


def _heading_text(heading: Any) -> str:
    return "".join(str(s) for s in heading.find_all(string=True)
                   if not (s.parent.name == "a" and "anchor-link" in s.parent.get("class", []))).strip()


def _add_contents(soup: Any) -> None:
    """A numbered list of the report's section headings (h2, h3 under them), after the title."""
    headings = soup.select(".jp-MarkdownCell h1[id], .jp-MarkdownCell h2[id], .jp-MarkdownCell h3[id]")
    seen: set[str] = set()
    for h in headings:  # two headings with one text would share an id: the second would be unreachable
        base, n = h["id"], 2
        while h["id"] in seen:
            h["id"] = f"{base}-{n}"
            n += 1
        seen.add(h["id"])
        for link in h.select("a.anchor-link"):
            link["href"] = f"#{h['id']}"
    sections = [h for h in headings if h.name in ("h2", "h3")]
    if not sections:
        return
    nav = soup.new_tag("nav", attrs={"class": "cl-toc", "aria-label": "Contents"})
    title = soup.new_tag("p")
    title.string = "Contents"
    nav.append(title)
    top = soup.new_tag("ol")
    nav.append(top)
    for h in sections:
        item = soup.new_tag("li")
        link = soup.new_tag("a", href=f"#{h['id']}")
        link.string = _heading_text(h)
        item.append(link)
        if h.name == "h2" or not top.contents:
            top.append(item)
        else:  # an h3: nested under the last h2
            parent = top.contents[-1]
            sub = parent.find("ol")
            if sub is None:
                sub = soup.new_tag("ol")
                parent.append(sub)
            sub.append(item)
    first = soup.select_one(".jp-MarkdownCell h1[id]")
    if first is not None:
        first.insert_after(nav)
    elif soup.body is not None:
        soup.body.insert(0, nav)


def _add_alt_text(soup: Any, descriptions: dict[str, str]) -> None:
    for img in soup.find_all("img"):
        if img.get("alt") and img["alt"] != _PLACEHOLDER:
            continue
        src = img.get("src", "")
        alt = descriptions.get(_payload(src.split(",", 1)[1])) if src.startswith("data:") and "," in src else None
        if not alt:
            heading = img.find_previous(["h1", "h2", "h3"])
            alt = f"Figure in the section {_heading_text(heading)!r}" if heading is not None else "Figure"
        img["alt"] = alt


def report_html(executed: Path, title: str) -> str:
    """The code-free HTML report of an executed notebook: outputs only, no stderr, finished by :func:`finish_report`."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            # Readers get results, not warnings from library internals.
            cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream"
                                                                        and o.get("name") == "stderr")]
    without_empty_sections(nb)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    # nbconvert warns once per report, into the operator's terminal, about images it finds without alt text;
    # finish_report gives every figure its description
    exporter.log.setLevel(logging.ERROR)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return finish_report(body, figure_descriptions(nb))
