"""The README's line for trying the companion app works against a real `cds serve`, and stops
the servers it started when it is stopped."""

from __future__ import annotations

import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.served import serve

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def try_it_line() -> str:
    section = README.split("## Try it", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    [line] = [line for block in blocks for line in block.splitlines() if "tests.smartlauncher.try_it" in line]
    assert "CDS_SMART_CLIENT_ID=myelin-companion make serve" in section
    return line


def test_the_readme_s_simulated_ehr_launches_the_app(tmp_path: Path) -> None:
    words = shlex.split(try_it_line())
    assert words[0] == ".venv/bin/python"
    served = serve(tmp_path, CDS_SMART_CLIENT_ID="myelin-companion")
    service = next(served)
    try:
        words = [w.replace("http://127.0.0.1:8080", service.base) for w in words]
        process = subprocess.Popen(
            [sys.executable, *words[1:]], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
        try:
            first = lines.get(timeout=120)
            found = re.search(r"(http://127\.0\.0\.1:\d+)/", first)
            assert found, first
            ehr = found[1]
            index = requests.get(f"{ehr}/", timeout=10).text
            assert "b12-treatment-response-history" in index and "hypomagnesemia-ppi-furosemide" in index
            page = requests.get(f"{ehr}/ehr", params={"patient": "pt-3001"}, timeout=10)
            assert page.status_code == 200
            assert f'src="{service.base}/app/launch?iss=' in page.text.replace("&amp;", "&")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        with pytest.raises(requests.ConnectionError):  # the servers it started are gone with it
            requests.get(f"{ehr}/", timeout=5)
    finally:
        served.close()  # stops the service
