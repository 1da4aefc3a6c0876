"""The card link that launches the SMART companion app (docs/companion-app.md).

A CDS Hooks link of `type: "smart"` asks the EHR to launch the URL as a SMART app in the
patient's context; its `appContext` reaches the app in the token response and names what to
show first. Only when the site has registered the app (setting `smart_client_id`): without
it, cards stay exactly as they were.
"""

from __future__ import annotations

import json

from cds.config import Settings
from cds.engine.model import Finding
from cds.services.response import Link

LAUNCH_PATH = "/app/launch"

# Topic -> the app's panel its link opens. Topics about orders being signed are left
# out: the app shows results over time, which a patient-view card is about.
PANELS: dict[str, str] = {
    "b12-deficiency": "b12",
    "b12-indeterminate": "b12",
    "b12-elevated": "b12",
    "b12-treatment-monitoring": "b12",
    "b12-testing-recommended": "b12",
    "hypocalcemia": "chemistry",
    "hypomagnesemia": "chemistry",
    "magnesium-testing-recommended": "chemistry",
    "electrolyte-imbalance": "chemistry",
}
LABELS = {
    "b12": "Results over time: B12, active B12, MMA, homocysteine and B12 therapy",
    "chemistry": "Results over time: calcium, magnesium, potassium and sodium",
}
# The series a topic without a result of its own (a testing card) brings into view.
DEFAULT_ANALYTE = {"magnesium-testing-recommended": "magnesium", "hypomagnesemia": "magnesium"}


def app_launch_url(settings: Settings, base_url: str) -> str | None:
    """Where the EHR launches the app, or None when the site has not registered it."""
    if not settings.smart_client_id:
        return None
    return base_url.rstrip("/") + LAUNCH_PATH


def app_links(finding: Finding, launch_url: str | None) -> tuple[Link, ...]:
    """The `smart` link of this finding's card: none when the app is off or the topic has no panel."""
    topic = finding.topic.value
    panel = PANELS.get(topic)
    if launch_url is None or panel is None:
        return ()
    focus = {"topic": topic, "panel": panel}
    analyte = finding.primary.analyte if finding.primary is not None else DEFAULT_ANALYTE.get(topic)
    if analyte:
        focus["analyte"] = analyte
    context = json.dumps(focus, separators=(",", ":"), sort_keys=True)
    return (Link(LABELS[panel], launch_url, "smart", context),)
