"""The SMART on FHIR companion app: the patient's results over time, launched from a card.

A public SMART App Launch 2.0 client served by the service (`/app/launch`, `/app/`): the
browser authorizes with the EHR (PKCE), reads FHIR with its own token, and posts the
resources (never the token) to `POST /app/api/chart`, which reads them with the same engine
as the hooks. See docs/companion-app.md.
"""

from cds.companion.pages import companion_blueprint

__all__ = ["companion_blueprint"]
