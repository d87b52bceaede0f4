"""axe-core for the accessibility tests: pinned, verified, never served to readers.

`source(cache_dir)` downloads axe.min.js once with npm (devtools.vendor.npm_file, the same
path as the vendored front-end files), checks its sha256 and returns its text. The tests
serve it at AXE_PATH by route interception, so it loads under the page's real CSP.
"""

from __future__ import annotations

from pathlib import Path

from . import vendor

AXE_VERSION = "4.14.1"
# sha256 of package/axe.min.js in axe-core-4.14.1.tgz as published on the npm registry.
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
AXE_PATH = "/__tests__/axe.min.js"

# Runs axe on the whole document and returns its violations, trimmed for a message.
RUN_AXE = """
async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  return r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), impact: n.impact,
                              summary: (n.failureSummary || "").split("\\n").slice(0, 3).join(" ")}))
  }));
}
"""


def source(cache_dir: Path) -> str:
    """axe.min.js, downloaded into cache_dir on first use and verified (VendorError if not)."""
    path = vendor.npm_file("axe-core", AXE_VERSION, "axe.min.js", AXE_SHA256,
                           cache_dir / f"axe-core-{AXE_VERSION}" / "axe.min.js")
    return path.read_text(encoding="utf-8")
