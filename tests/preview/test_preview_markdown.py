"""The page's markdown renderer (run under Node): the card subset renders, everything else is escaped."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

RENDERER = Path(__file__).resolve().parents[2] / "src" / "cds" / "tools" / "preview" / "markdown.js"
CASES = {
    "heading": "## Evidence",
    "bold": "B12 is **low** today",
    "list": "- metformin\n- omeprazole",
    "numbered": "1. order MMA\n2. review",
    "table": "| Test | Result |\n|---|---|\n| B12 | <150 pg/mL |\n| Note | a \\| b |",
    "link": "[NICE NG239](https://www.nice.org.uk/guidance/ng239)",
    "bad-link": "[click](javascript:alert(1))",
    "html": "<script>alert(1)</script> <img src=x onerror=alert(1)>",
    "escapes": "metformin \\(since 2023\\) \\*not emphasis\\* \\< 180 ng/L",
    "quote-in-link": '[x](https://example.org/"onmouseover="alert(1))',
    "same-site-link": "[rule](/docs/topics/b12-deficiency)",
    "protocol-relative": "[x](//evil.example/path)",
    "backslash-relative": "[x](/\\evil.example/path)",
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required to test the preview page's markdown renderer (install nodejs)")
    script = (
        f"const {{renderMarkdown}} = require({json.dumps(str(RENDERER))});"
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const out = {}; for (const [k, v] of Object.entries(cases)) out[k] = renderMarkdown(v);"
        "process.stdout.write(JSON.stringify(out));"
    )
    done = subprocess.run(
        [node, "-e", script], input=json.dumps(CASES), capture_output=True, text=True, timeout=20, check=True
    )
    return json.loads(done.stdout)


def test_card_subset_renders(rendered: dict[str, str]) -> None:
    assert rendered["heading"] == "<h4>Evidence</h4>"
    assert rendered["bold"] == "<p>B12 is <strong>low</strong> today</p>"
    assert rendered["list"] == "<ul><li>metformin</li><li>omeprazole</li></ul>"
    assert rendered["numbered"] == "<ol><li>order MMA</li><li>review</li></ol>"
    assert rendered["link"] == (
        '<p><a href="https://www.nice.org.uk/guidance/ng239" target="_blank" '
        'rel="noopener noreferrer">NICE NG239</a></p>'
    )


def test_backslash_escapes_are_taken_literally(rendered: dict[str, str]) -> None:
    assert rendered["escapes"] == "<p>metformin (since 2023) *not emphasis* &lt; 180 ng/L</p>"


def test_tables_render_with_escaped_cells(rendered: dict[str, str]) -> None:
    table = rendered["table"]
    assert table.startswith("<table><thead><tr><th>Test</th><th>Result</th></tr></thead>")
    assert "<td>B12</td><td>&lt;150 pg/mL</td>" in table
    assert "<td>a | b</td>" in table  # an escaped pipe stays in its cell


def test_everything_else_is_escaped(rendered: dict[str, str]) -> None:
    assert "<script" not in rendered["html"] and "<img" not in rendered["html"]
    assert "&lt;script&gt;" in rendered["html"]
    assert "<a" not in rendered["bad-link"] and "javascript:alert(1)" in rendered["bad-link"]
    assert '"onmouseover' not in rendered["quote-in-link"]


def test_only_same_site_paths_count_as_relative_links(rendered: dict[str, str]) -> None:
    assert 'href="/docs/topics/b12-deficiency"' in rendered["same-site-link"]
    assert "href" not in rendered["protocol-relative"]
    assert "href" not in rendered["backslash-relative"]
