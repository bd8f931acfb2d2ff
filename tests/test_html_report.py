"""`nnbook report --html`: the page holds report.py's table, each row's curves, the votes and the
filters, every picture inside it; and a real browser (headless Chromium, the Debian package)
shows it: the DOM it builds has the table and figures, every image decoded, a screenshot that is
not blank.

Chromium is required: where it is missing the browser tests fail and name the install command
(.ci/run installs it). NNBOOK_SKIP_BROWSER=1, which the Makefile never sets, skips them, reported
as skipped, for a machine where a user cannot install packages."""

import base64
import json
import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from nnbook.analysis.curves import epoch_band
from nnbook.analysis.report import HEADER, cells, collect

from .cli import ROOT, run_captured
from .conftest import run_dirs

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
INSTALL = "apt-get update && apt-get install -y chromium"
VOTE = ROOT / "reports" / "chapter6" / "votes" / "best"


@pytest.fixture(scope="module")
def page(tmp_path_factory, mnist_slice):
    """The page of two short runs of the conv net (their networks saved: filters) and a vote
    (chapter 6's committed vote of the best networks: the page reads a vote's record and picture)."""
    root = tmp_path_factory.mktemp("html")
    train = run_captured("train", "configs/ch6_conv_only.yaml", "--set", f"data={mnist_slice}",
                         "--set", "train_limit=200", "--set", "epochs=2", "--repeats", 2,
                         "--runs-dir", root / "runs", "--quiet")
    assert train.returncode == 0, train.stderr
    out = root / "report.html"
    made = run_captured("report", root / "runs", VOTE, "--html", out)
    assert made.returncode == 0, made.stderr
    assert made.stdout == f"wrote {out}\n"
    return out, [root / "runs", VOTE]


class Page(HTMLParser):
    """The tags of a page and the text of its table's cells, as Python's parser reads them."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for t, attrs in self.tags if t == tag]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", png[16:24])  # IHDR: width, height


def data_uri_png(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    return base64.b64decode(src[len(prefix):], validate=True)


def test_the_band_at_each_epoch_is_over_the_runs_that_reached_it():
    band = epoch_band([[(1, 0.5), (2, 0.7), (3, 0.8)], [(1, 0.7), (2, 0.9)]])
    assert band.epochs == [1, 2, 3] and band.n == [2, 2, 1] and band.runs == 2
    assert band.mean == pytest.approx([0.6, 0.8, 0.8])
    assert band.low == [0.5, 0.7, 0.8] and band.high == [0.7, 0.9, 0.8]
    assert epoch_band([]).epochs == [] and epoch_band([]).runs == 0


def test_the_page_holds_the_reports_table_curves_vote_and_filters(page):
    out, sources = page
    text = out.read_text()
    parsed = Page(text)
    rows = collect(sources)
    assert parsed.rows == [HEADER] + [cells(row) for row in rows]  # report.py's cells, as they are
    images = parsed.all("img")
    # One row of runs (its curves), the vote (its digits), two runs' filters.
    assert [a["alt"] for a in images] == [
        # labelled as the table labels the experiment: these runs are scaled down (`ch6_conv_only @data=...`)
        f"{next(r for r in rows if r.name == 'ch6_conv_only').label}: validation accuracy per epoch",
        "ch6_relu_dropout_ensemble: vote of 5 (best networks): misclassified digits",
        *(f"{path.name} (seed {seed}): first conv layer's 20 filters"
          for seed, path in enumerate(run_dirs(sources[0])))]
    for attrs in images:
        assert png_size(data_uri_png(attrs["src"]))[0] > 100
    assert data_uri_png(images[1]["src"]) == (sources[1] / "ensemble_errors.png").read_bytes()
    vote = json.loads((sources[1] / "ensemble.json").read_text())
    assert f"{vote['n_errors']} errors of {vote['n_test']:,}" in text
    assert all(f"#{e['index']}: {e['label']}→{e['predicted']}" in text for e in vote["errors"])


def test_the_page_fetches_nothing_and_runs_nothing(page):
    parsed = Page(page[0].read_text())
    assert not parsed.all("script") and not parsed.all("link") and not parsed.all("iframe")
    for tag, attrs in parsed.tags:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith(("data:image/png;base64,", "#")), (tag, attrs[name][:60])
    assert "url(" not in page[0].read_text() and "@import" not in page[0].read_text()
    policy = [a["content"] for a in parsed.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert policy == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]


def test_html_into_a_missing_folder_is_a_usage_error(cli, tmp_path, page):
    result = cli("report", page[1][0], "--html", tmp_path / "nowhere" / "report.html")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --html {tmp_path / 'nowhere' / 'report.html'}: no such folder {tmp_path / 'nowhere'}; "
        "give the path of the page to write, e.g. --html report.html"]
    assert not (tmp_path / "nowhere").exists()


# ----------------------------------------------------------------------------- in a real browser


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with a fresh profile, or the test fails naming the install command."""
    if os.environ.get("NNBOOK_SKIP_BROWSER"):
        pytest.skip("NNBOOK_SKIP_BROWSER is set: the page is not opened in a browser")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail(f"chromium is not installed, and the browser tests need it: {INSTALL} "
                    "(or NNBOOK_SKIP_BROWSER=1 to skip them)")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    done = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


# Opens the page in a frame and writes down what the browser made of it: the table's shape, the
# figures, and each image's state once the frame has loaded (a probe beside the page, which has
# no script of its own and forbids any).
PROBE = """<!DOCTYPE html><html><body>
<iframe id="page" src="{page}" style="width:1280px;height:900px"></iframe>
<pre id="probe">not loaded</pre>
<script>
// The share of an image's pixels that the browser decoded opaque: nnbook's pictures have no
// transparency, and a broken or cut-off PNG leaves what it could not decode transparent.
function opaque(img) {{
  var canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  if (!canvas.width || !canvas.height) return 0;
  var context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  var data = context.getImageData(0, 0, canvas.width, canvas.height).data, n = 0;
  for (var i = 3; i < data.length; i += 4) if (data[i] === 255) n++;
  return n / (canvas.width * canvas.height);
}}
document.getElementById("page").addEventListener("load", function () {{
  var doc = this.contentDocument;
  document.getElementById("probe").textContent = JSON.stringify({{
    header: Array.from(doc.querySelectorAll("#results thead th")).map(function (th) {{ return th.textContent; }}),
    rows: doc.querySelectorAll("#results tbody tr").length,
    figures: doc.querySelectorAll("figure").length,
    images: Array.from(doc.images).map(function (img) {{
      return [img.complete, img.naturalWidth, img.naturalHeight, img.getBoundingClientRect().width,
              opaque(img)]; }})
  }});
}});
</script></body></html>
"""


def test_a_browser_shows_the_table_and_decodes_every_image(page, tmp_path):
    out, sources = page
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.format(page=out.as_uri()))
    dom = chromium(tmp_path, "--allow-file-access-from-files", "--virtual-time-budget=20000", "--dump-dom",
                   probe.as_uri()).stdout
    start = dom.index('<pre id="probe">') + len('<pre id="probe">')
    text = dom[start:dom.index("</pre>", start)]
    assert text != "not loaded", "the page never finished loading in the browser"
    shown = json.loads(text.replace("&quot;", '"').replace("&amp;", "&"))
    parsed = Page(out.read_text())
    assert shown["header"] == HEADER
    assert shown["rows"] == len(collect(sources))
    assert shown["figures"] == len(parsed.all("figure")) == 4
    expected = [png_size(data_uri_png(a["src"])) for a in parsed.all("img")]
    assert [(w, h) for _, w, h, _, _ in shown["images"]] == expected  # every picture decoded at its size
    assert all(complete and drawn > 0 and opaque == 1 for complete, _, _, drawn, opaque in shown["images"]), \
        shown["images"]


def test_a_screenshot_of_the_page_is_not_blank(page, tmp_path):
    from PIL import Image

    shot = tmp_path / "page.png"
    chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", page[0].as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (2000, 1280)
    assert (pixels != pixels[0, 0]).any(axis=2).any(), "one colour"
    dark = (pixels.max(axis=2) < 128).mean()  # text, lines, digits
    coloured = ((pixels.max(axis=2) - pixels.min(axis=2)) > 80).mean()  # the curves' blue: a picture drawn
    assert dark > 0.005 and coloured > 0.001, (dark, coloured)
