#!/usr/bin/env python3
"""Opens pages in a real headless Chromium and reports what happened, as JSON.

Used by perfkit's site tests: they run this once with every page of a
generated site and assert on the report. It drives the system Chromium
(Debian's `chromium`) through Playwright's `executable_path`; it never uses
or downloads a Playwright browser build.

Usage:
    browse.py [--chromium PATH] [--screenshots DIR] [--timeout-ms N]
              [--viewport WxH] URL...

Output (one JSON object on stdout):
    {"pages": [{"url", "status", "title", "error",
                "console_errors", "console_warnings", "page_errors", "dialogs",
                "failed_requests": [{"url", "error"}], "ready", "charts",
                "canvases": [{"chart", "width", "height", "role", "label"}],
                "links": [{"href", "tag", "ok", "reason"}], "a11y",
                "paint": {"first_paint_ms", "first_contentful_paint_ms",
                          "dom_content_loaded_ms", "load_ms"},
                "screenshot"}]}

Rules:
* error says what stopped the visit (navigation timeout, crash) or is null.
* status is the HTTP status of the main document, null for file:// URLs.
  A file:// URL naming a directory opens its index.html, as a server would.
* A page gets --timeout-ms in all: the `load` event, then until
  `window.perfkitReady === true` (ready says whether that happened).
* charts is `window.perfkitCharts` as the page left it, or null.
* canvases lists every <canvas> the page drew into: the id of its nearest
  ancestor (or itself) with one, its size in CSS pixels, role and
  aria-label.
* failed_requests holds network failures and HTTP answers >= 400. Requests
  to hosts other than loopback are aborted (net::ERR_BLOCKED_BY_CLIENT):
  the tests' machines have no network and a site must not need one.
* links: a[href], link[href] and script[src], resolved. A link into the
  same document must name an element id (or a[name]); file:// targets must
  exist (a directory needs index.html); http(s) targets on the page's
  origin must answer 200 to a plain GET. Anything else (other origins,
  mailto:, data:) is listed with ok = null and not fetched.
* a11y lists cheap, deterministic problems: missing <html lang>, <img>
  without alt, unlabelled <input>/<select>/<textarea>, <a>/<button>
  without an accessible name (text, aria-label(ledby), title or img alt),
  <canvas> without role="img" + aria-label,
  <table> without <th>.

Exit status: 0 when the pages could be visited (whatever they contain),
2 when Chromium or Playwright is missing or Chromium cannot start.
"""

import argparse
import ipaddress
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # main() says so and exits with status 2
    sync_playwright = None

# Without these Chromium waits on network services this machine cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
LINK_CHECK_TIMEOUT_S = 10
# Same-origin links are on this machine: never send them through a proxy.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Runs in the page: every link-like element, resolved by the browser.
COLLECT_LINKS_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('a[href], link[href], script[src]')) {
    const attr = el.tagName === 'SCRIPT' ? 'src' : 'href';
    let href = el.getAttribute(attr);
    try { href = new URL(href, document.baseURI).href; } catch (e) {}
    out.push({tag: el.tagName.toLowerCase(), href});
  }
  return out;
}"""

HAS_ANCHOR_JS = """(name) => !!(document.getElementById(name)
  || document.querySelector('a[name="' + CSS.escape(name) + '"]'))"""

# Runs in the page: returns ["problem at locator", ...].
A11Y_JS = """() => {
  const problems = [];
  const where = (el) => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && parts.length < 4; e = e.parentElement) {
      const tag = e.tagName.toLowerCase();
      if (e.id) { parts.unshift(tag + '#' + e.id); break; }
      if (tag === 'body' || tag === 'html') break;
      const same = e.parentElement
        ? [...e.parentElement.children].filter((c) => c.tagName === e.tagName) : [e];
      parts.unshift(same.length > 1 ? `${tag}:nth-of-type(${same.indexOf(e) + 1})` : tag);
    }
    const hint = {A: 'href', IMG: 'src', INPUT: 'name', SELECT: 'name', TEXTAREA: 'name'}[el.tagName];
    const value = !el.id && hint && el.getAttribute(hint);
    return parts.join(' > ') + (value ? `[${hint}="${value.slice(0, 60)}"]` : '');
  };
  const text = (s) => (s || '').trim();
  const labelledBy = (el) => text(el.getAttribute('aria-labelledby')).split(/\\s+/)
    .some((id) => id && document.getElementById(id) && text(document.getElementById(id).textContent));
  const named = (el) => text(el.getAttribute('aria-label')) || labelledBy(el)
    || text(el.getAttribute('title')) || text(el.textContent)
    || [...el.querySelectorAll('img[alt]')].some((img) => text(img.alt));

  if (!text(document.documentElement.getAttribute('lang'))) problems.push('<html> has no lang');
  for (const img of document.querySelectorAll('img:not([alt])')) problems.push(`img without alt: ${where(img)}`);
  const unlabelledTypes = new Set(['hidden', 'submit', 'reset', 'button', 'image']);
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.tagName === 'INPUT' && unlabelledTypes.has((el.getAttribute('type') || '').toLowerCase())) continue;
    const labelled = (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`))
      || text(el.getAttribute('aria-label')) || labelledBy(el) || el.closest('label');
    if (!labelled) problems.push(`${el.tagName.toLowerCase()} without label: ${where(el)}`);
  }
  for (const el of document.querySelectorAll('a[href], button')) {
    if (!named(el)) problems.push(`${el.tagName.toLowerCase()} without accessible name: ${where(el)}`);
  }
  for (const c of document.querySelectorAll('canvas')) {
    if (c.getAttribute('role') !== 'img') problems.push(`canvas without role="img": ${where(c)}`);
    if (!text(c.getAttribute('aria-label'))) problems.push(`canvas without aria-label: ${where(c)}`);
  }
  for (const t of document.querySelectorAll('table')) {
    if (!t.querySelector('th')) problems.push(`table without th: ${where(t)}`);
  }
  return problems;
}"""

# Runs in the page: every canvas, where it is and how it is labelled.
CANVASES_JS = """() => [...document.querySelectorAll('canvas')].map((c) => {
  const holder = c.closest('[id]');
  const box = c.getBoundingClientRect();
  return {chart: holder ? holder.id : null, width: Math.round(box.width),
          height: Math.round(box.height), role: c.getAttribute('role'),
          label: c.getAttribute('aria-label')};
})"""

# Paint entries arrive a frame or more after the content that caused them
# (and loadEventEnd just after `load`): wait a little for both, not forever,
# since a blank page never has a contentful paint.
PAINT_JS = """async () => {
  const settled = () => performance.getEntriesByName('first-contentful-paint').length > 0
    && (performance.getEntriesByType('navigation')[0] || {}).loadEventEnd > 0;
  const until = performance.now() + 2000;
  while (!settled() && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  const ms = (v) => (typeof v === 'number' && v > 0) ? Math.round(v * 10) / 10 : null;
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
  const nav = performance.getEntriesByType('navigation')[0] || {};
  return {
    first_paint_ms: ms(paint['first-paint']),
    first_contentful_paint_ms: ms(paint['first-contentful-paint']),
    dom_content_loaded_ms: ms(nav.domContentLoadedEventEnd),
    load_ms: ms(nav.loadEventEnd),
  };
}"""


def fail(message):
    print(f"browse.py: {message}", file=sys.stderr)
    sys.exit(2)


def parse_viewport(text):
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}")
    return {"width": int(m[1]), "height": int(m[2])}


def is_loopback(host):
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin(url):
    p = urllib.parse.urlsplit(url)
    return (p.scheme, p.hostname, p.port)


def without_fragment(url):
    return urllib.parse.urldefrag(url)[0]


def screenshot_name(url, taken):
    """A file name from the URL's path (and query), unique within this run."""
    p = urllib.parse.urlsplit(url)
    raw = urllib.parse.unquote(p.path.strip("/")) + (f"_{p.query}" if p.query else "")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._") or "index"
    stem = stem[-120:]
    name, n = f"{stem}.png", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}.png"
    taken.add(name)
    return name


def directory_index(url):
    """A file:// directory URL as a web server would serve it: its index.html."""
    p = urllib.parse.urlsplit(url)
    if p.scheme == "file" and Path(urllib.request.url2pathname(p.path)).is_dir():
        return urllib.parse.urlunsplit(p._replace(path=p.path.rstrip("/") + "/index.html"))
    return url


class LinkChecker:
    """Checks same-site link targets, remembering answers across pages."""

    def __init__(self):
        self.cache = {}

    def check(self, href, page_url, has_anchor):
        scheme = urllib.parse.urlsplit(href).scheme
        target, fragment = urllib.parse.urldefrag(href)
        if target == without_fragment(page_url) and fragment:
            name = urllib.parse.unquote(fragment)
            if has_anchor(name):
                return True, None
            return False, f"no element with id {name!r} on the page"
        if scheme == "file":
            return self.cached(target, self.check_file)
        if scheme in ("http", "https") and origin(href) == origin(page_url):
            return self.cached(target, self.check_http)
        return None, "external, not checked"

    def cached(self, target, check):
        if target not in self.cache:
            self.cache[target] = check(target)
        return self.cache[target]

    @staticmethod
    def check_file(target):
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(target).path))
        if path.is_file():
            return True, None
        if path.is_dir():
            if (path / "index.html").is_file():
                return True, None
            return False, "directory without index.html"
        return False, "file not found"

    @staticmethod
    def check_http(target):
        try:
            with DIRECT.open(target, timeout=LINK_CHECK_TIMEOUT_S) as resp:
                resp.read()
                if resp.status == 200:
                    return True, None
                return False, f"HTTP {resp.status}"
        except urllib.error.HTTPError as e:
            return False, f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            return False, f"unreachable: {getattr(e, 'reason', e)}"


def block_external(route):
    host = urllib.parse.urlsplit(route.request.url).hostname or ""
    if is_loopback(host):
        route.continue_()
    else:
        route.abort("blockedbyclient")


def visit(context, url, args, links, shots_taken):
    report = {
        "url": url,
        "status": None,
        "title": None,
        "error": None,
        "console_errors": [],
        "console_warnings": [],
        "page_errors": [],
        "dialogs": [],
        "failed_requests": [],
        "ready": False,
        "charts": None,
        "canvases": [],
        "links": [],
        "a11y": [],
        "paint": None,
        "screenshot": None,
    }
    page = context.new_page()
    listen(page, report)
    try:
        inspect(page, url, args, links, shots_taken, report)
    except PlaywrightError as e:  # navigation timeout, network error, crash: report it, go on
        report["error"] = str(e).strip().splitlines()[0]
    finally:
        page.close()
    return report


def listen(page, report):
    """Records what the page says and what fails while it loads and runs."""

    def on_console(msg):
        if msg.type == "error":
            report["console_errors"].append(msg.text)
        elif msg.type == "warning":
            report["console_warnings"].append(msg.text)

    def on_response(resp):
        if resp.status >= 400:
            report["failed_requests"].append({"url": resp.url, "error": f"HTTP {resp.status}"})

    def on_request_failed(req):
        # Chromium also aborts a subresource whose answer was an HTTP error: reported already.
        if req.failure == "net::ERR_ABORTED" and any(f["url"] == req.url for f in report["failed_requests"]):
            return
        report["failed_requests"].append({"url": req.url, "error": req.failure})

    def on_dialog(dialog):
        # alert()/confirm()/prompt(): an injected script would show one.
        report["dialogs"].append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda err: report["page_errors"].append(f"{err.name}: {err.message}"))
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)


def inspect(page, url, args, links, shots_taken, report):
    deadline = time.monotonic() + args.timeout_ms / 1000
    response = page.goto(directory_index(url), wait_until="load", timeout=args.timeout_ms)
    if response is not None and urllib.parse.urlsplit(url).scheme != "file":
        report["status"] = response.status
    try:
        left_ms = max(1, int((deadline - time.monotonic()) * 1000))
        page.wait_for_function("window.perfkitReady === true", timeout=left_ms)
        report["ready"] = True
    except PlaywrightTimeout:
        pass
    report["title"] = page.title()
    report["charts"] = page.evaluate("() => window.perfkitCharts === undefined ? null : window.perfkitCharts")
    report["canvases"] = page.evaluate(CANVASES_JS)
    report["a11y"] = page.evaluate(A11Y_JS)
    report["paint"] = page.evaluate(PAINT_JS)

    page_url = page.url
    seen = set()
    for link in page.evaluate(COLLECT_LINKS_JS):
        if link["href"] in seen:
            continue
        seen.add(link["href"])
        ok, reason = links.check(link["href"], page_url, lambda name: page.evaluate(HAS_ANCHOR_JS, name))
        report["links"].append({"href": link["href"], "tag": link["tag"], "ok": ok, "reason": reason})

    if args.screenshots:
        path = Path(args.screenshots) / screenshot_name(url, shots_taken)
        page.screenshot(path=str(path), full_page=True)
        report["screenshot"] = str(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chromium",
        default=os.environ.get("PERFKIT_CHROMIUM") or DEFAULT_CHROMIUM,
        help="Chromium executable (default: $PERFKIT_CHROMIUM or /usr/bin/chromium)",
    )
    parser.add_argument("--screenshots", metavar="DIR", help="write a full-page PNG per URL here")
    parser.add_argument("--timeout-ms", type=int, default=15000, help="budget per page (default 15000)")
    parser.add_argument("--viewport", type=parse_viewport, default="1280x800", help="WxH (default 1280x800)")
    parser.add_argument("urls", nargs="+", metavar="URL")
    args = parser.parse_args()

    if not (os.path.isfile(args.chromium) and os.access(args.chromium, os.X_OK)):
        fail(f"no Chromium executable at {args.chromium} (apt-get install chromium, or pass --chromium)")
    if sync_playwright is None:
        fail("the playwright package is missing (pip install -r tests/tools/requirements-tools.txt)")
    if args.screenshots:
        Path(args.screenshots).mkdir(parents=True, exist_ok=True)

    pages, links, shots_taken = [], LinkChecker(), set()
    with tempfile.TemporaryDirectory(prefix="browse-profile-") as profile, sync_playwright() as pw:
        try:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=args.chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=args.viewport,
                timeout=60000,
            )
        except PlaywrightError as e:
            fail(f"Chromium at {args.chromium} did not start: {str(e).strip()}")
        context.route(re.compile(r"^https?://"), block_external)
        for blank in context.pages:  # the persistent context opens one tab itself
            blank.close()
        for url in args.urls:
            pages.append(visit(context, url, args, links, shots_taken))
        context.close()

    json.dump({"pages": pages}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
