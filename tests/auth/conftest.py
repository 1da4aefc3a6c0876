"""Fixtures for the trust tests live with the test EHR they describe (trusted_ehr.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from trusted_ehr import auth_log, client, keys, served_jwks  # noqa: F401
