"""The hostile-input strategies live in hostile.py next to these tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
