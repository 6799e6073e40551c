"""The run's pages in a real browser: no JavaScript error, no broken link or image, nothing from the network.

Headless Chromium, driven by Selenium, opens over ``file://`` (as a reader opening the folder would) the output
folder's run history, the run's index, every report, the letters' index and one letter, and the run-to-run diff.
On each page it fails on a SEVERE console entry (an uncaught error, a resource that did not load), an image that
did not load, an in-page anchor with no element of that id, a relative link to a file that does not exist or lies
outside the folder, and any link, script or stylesheet on the network (the reports must work offline).

Chromium resolves no host name here (``--host-resolver-rules``), so a page that fetches from the network at run
time fails as a console error too, whether or not the machine is online.

One browser session serves every page (module scope). Without Chromium, its driver or Selenium the tests skip,
saying what is missing and how to install it (checked at collection: a skip costs no smoke run).
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

INSTALL_HINT = ("install them with `apt-get install chromium chromium-driver` (Debian/Ubuntu), or set CHROMIUM and "
                "CHROMEDRIVER to the browser and driver binaries")
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVER_NAMES = ("chromedriver", "chromium.chromedriver")
PAGE_LOAD_SECONDS = 30

# Lazy images would stay unloaded below the fold of a headless window: load them all, then wait for each to decode
# (a broken image rejects; it is reported by the check that follows).
SETTLE_IMAGES_JS = """
const done = arguments[arguments.length - 1];
const images = [...document.images];
images.forEach(image => { image.loading = "eager"; });
Promise.all(images.map(image => image.decode().catch(() => null))).then(() => done(true));
"""

PAGE_JS = """
const values = (selector, name) => [...document.querySelectorAll(selector)].map(e => e.getAttribute(name));
return {
  links: values("a[href]", "href"),
  anchors: [...values("[id]", "id"), ...values("a[name]", "name")],
  resources: [...values("script[src]", "src"), ...values("link[href]", "href"), ...values("img[src]", "src"),
              ...values("iframe[src]", "src"), ...values("source[src]", "src")],
  broken_images: [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.getAttribute("alt") || (i.getAttribute("src") || "(no src)").slice(0, 80)),
};
"""


def _binary(env: str, names: tuple[str, ...]) -> tuple[str | None, str]:
    """The binary from ``$env`` or the first of ``names`` on PATH, or None and what was looked for."""
    given = os.environ.get(env)
    if given:
        found = shutil.which(given)
        return found, f"{env}={given} is not an executable file"
    for name in names:
        if found := shutil.which(name):
            return found, ""
    return None, f"none of {', '.join(names)} is on PATH (and {env} is not set)"


def _missing() -> tuple[str, str | None, str | None]:
    """What the browser test lacks ("" when nothing), and the Chromium and ChromeDriver binaries found."""
    chromium, chromium_missing = _binary("CHROMIUM", BROWSER_NAMES)
    chromedriver, driver_missing = _binary("CHROMEDRIVER", DRIVER_NAMES)
    lacking = [f"{what} ({why})" for what, found, why in (("Chromium", chromium, chromium_missing),
                                                           ("ChromeDriver", chromedriver, driver_missing)) if not found]
    if lacking:
        lacking[-1] += f": {INSTALL_HINT}"
    if importlib.util.find_spec("selenium") is None:
        lacking.append("Selenium (not installed): pip install -e '.[test]' (or pip install selenium)")
    if lacking:
        return "no headless browser to open the reports in; missing " + "; ".join(lacking), chromium, chromedriver
    return "", chromium, chromedriver


# Decided at collection, so that a machine without a browser skips before the shared smoke run is made for it.
MISSING, CHROMIUM, CHROMEDRIVER = _missing()
# e2e throughout: the checks open run folders in a browser (and the one on a page built here needs the browser too)
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.e2e]


def _start_chromium(chromium: str, chromedriver: str):
    """A headless Chromium session that logs the browser console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                # offline by construction: any host name fails to resolve, and that failure is a console error
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path is given, so Selenium Manager (which would download one) is never asked.
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
    driver.set_script_timeout(PAGE_LOAD_SECONDS)
    return driver


@pytest.fixture(scope="module")
def browser():
    """One browser session for every page of this module."""
    driver = _start_chromium(CHROMIUM, CHROMEDRIVER)
    yield driver
    driver.quit()


def _is_network(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https", "ws", "wss", "ftp") or url.strip().startswith("//")


_ANCHOR_ATTR = re.compile(r"""\b(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_anchors_in_file: dict[Path, set[str]] = {}


def _anchors_of(path: Path) -> set[str]:
    """Every id and name in an HTML file, read from its source (for links into another page)."""
    if path not in _anchors_in_file:
        text = path.read_text(encoding="utf-8", errors="replace")
        _anchors_in_file[path] = {html.unescape(next(g for g in m.groups() if g is not None))
                                  for m in _ANCHOR_ATTR.finditer(text)}
    return _anchors_in_file[path]


def _link_problem(href: str, page: Path, root: Path, anchors: set[str]) -> str | None:
    """What is wrong with one ``a[href]`` of ``page`` (None when nothing is); files must lie inside ``root``."""
    parts = urlsplit(href.strip())
    scheme = parts.scheme.lower()
    if _is_network(href):
        return f"link to the network {href!r} (the reports must work offline)"
    if scheme in ("mailto", "tel", "data"):
        return None
    if scheme:
        return f"link {href!r} uses {scheme}: (a relative link to a file of the folder was expected)"
    fragment = unquote(parts.fragment)
    if not parts.path:
        if fragment in ("", "top") or fragment in anchors or parts.fragment in anchors:
            return None
        return f"in-page anchor {href!r}: no element has the id or name {fragment!r}"
    target = (page.parent / unquote(parts.path)).resolve()
    if not target.is_relative_to(root):
        return f"link {href!r} leads out of the folder {root.name}/ (to {target}): it breaks when the folder is copied"
    if not target.exists():
        return f"broken link {href!r}: {target.relative_to(root)} does not exist"
    if target.is_dir():
        return f"link {href!r} opens the folder {target.relative_to(root)}/, not a page"
    if fragment and target.suffix == ".html" and fragment not in _anchors_of(target):
        return f"link {href!r}: {target.relative_to(root)} has no element with the id or name {fragment!r}"
    return None


def _page_problems(driver, page: Path, root: Path) -> list[str]:
    """Open ``page`` and list everything broken on it, each line naming the page (relative to ``root``'s parent)."""
    name = page.relative_to(root.parent).as_posix()
    driver.get_log("browser")  # drop what an earlier page left
    driver.get(page.as_uri())
    driver.execute_async_script(SETTLE_IMAGES_JS)
    found = driver.execute_script(PAGE_JS)
    problems = [f"console {e.get('source', '')} error: {e['message']}"
                for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    problems += [f"image did not load: {image!r}" for image in found["broken_images"]]
    problems += [f"loads {url!r} from the network (the reports must work offline)"
                 for url in found["resources"] if url and _is_network(url)]
    anchors = set(found["anchors"])
    problems += [p for href in dict.fromkeys(found["links"]) if (p := _link_problem(href, page, root, anchors))]
    return [f"{name}: {p}" for p in problems]


def _assert_pages_work(driver, pages: list[Path], root: Path) -> None:
    root = root.resolve()
    problems = [p for page in pages for p in _page_problems(driver, page.resolve(), root)]
    assert not problems, f"{len(problems)} problem(s) in the browser:\n" + "\n".join(problems)


BROKEN_PAGE = """<!doctype html><html><head><title>broken</title>
<script src="https://cdn.example.com/widget.js"></script><link rel="stylesheet" href="style.css"></head>
<body><h1 id="top-heading">A page with one of each fault</h1>
<a href="#top-heading">fine</a> <a href="#no-such-section">anchor</a> <a href="reports/gone.html">missing</a>
<a href="https://example.com/">network</a> <a href="../outside.html">outside</a> <a href="reports/">folder</a>
<a href="reports/a.html#kept">fine</a> <a href="reports/a.html#lost">fragment</a>
<a href="mailto:x@example.com">fine</a>
<img alt="Figure: not there" src="figure.png">
<img alt="fine" src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUwAOw==">
<script>notDefined();</script><script>fetch("https://api.example.com/rates");</script></body></html>
"""


def test_the_checks_catch_each_fault_on_a_page_built_here(browser, tmp_path):
    """Each kind of fault is found and named with its page; a check that finds nothing proves nothing."""
    (tmp_path / "run" / "reports").mkdir(parents=True)
    (tmp_path / "run" / "index.html").write_text(BROKEN_PAGE)
    (tmp_path / "run" / "reports" / "a.html").write_text('<p id="kept">kept</p>')
    (tmp_path / "outside.html").write_text("<p>outside</p>")
    run = tmp_path.resolve() / "run"
    problems = _page_problems(browser, run / "index.html", run)
    text = "\n".join(problems)
    assert all(p.startswith("run/index.html: ") for p in problems), text
    for expected in ("ReferenceError: notDefined", "style.css - Failed to load resource",
                     "https://api.example.com/rates - Failed to load resource",
                     "image did not load: 'Figure: not there'",
                     "loads 'https://cdn.example.com/widget.js' from the network", "in-page anchor '#no-such-section'",
                     "broken link 'reports/gone.html'", "link to the network 'https://example.com/'",
                     "link '../outside.html' leads out of the folder run/", "link 'reports/' opens the folder",
                     "link 'reports/a.html#lost': reports/a.html has no element"):
        assert expected in text, f"{expected!r} not reported; the checks found:\n{text}"
    assert not any(fine in text for fine in ("#top-heading", "#kept", "mailto:", "'fine'")), text


def test_run_history_page_works_in_a_browser(browser, smoke_run):
    run_dir, _ = smoke_run
    _assert_pages_work(browser, [run_dir.parent / "index.html"], run_dir.parent)


def test_run_index_works_in_a_browser(browser, smoke_run):
    run_dir, _ = smoke_run
    _assert_pages_work(browser, [run_dir / "index.html"], run_dir)


def test_every_report_works_in_a_browser(browser, smoke_run):
    run_dir, _ = smoke_run
    reports = sorted((run_dir / "reports").glob("*.html"))
    assert reports, f"{run_dir / 'reports'} holds no HTML report"
    _assert_pages_work(browser, reports, run_dir)


def test_letters_work_in_a_browser(browser, smoke_run):
    run_dir, _ = smoke_run
    letters = sorted((run_dir / "letters").glob("letter_*.html"))
    assert letters, f"{run_dir / 'letters'} holds no letter (letter_*.html)"
    _assert_pages_work(browser, [run_dir / "letters" / "index.html", letters[0]], run_dir)


def test_run_diff_page_works_in_a_browser(browser, smoke_run, tmp_path):
    """The diff against the previous run when the run has one; else the run against itself, written here."""
    run_dir, _ = smoke_run
    diff_page = run_dir / "data" / "diff_previous" / "diff.html"
    if diff_page.exists():
        _assert_pages_work(browser, [diff_page], run_dir)
        return
    from credit_lab.run.diff import diff_runs, write_diff

    diff_page = write_diff(diff_runs(run_dir, run_dir), tmp_path / "diff")
    _assert_pages_work(browser, [diff_page], tmp_path / "diff")
