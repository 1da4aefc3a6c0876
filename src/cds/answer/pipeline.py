"""A call answered, as a chain of named steps: read the chart, assess it, render the cards.

chart = read(call)                the reader: FHIR JSON -> typed facts
assessment = assess(chart)        the engine: facts -> findings
answer = render_answer(...)       the cards: findings -> cards, split by topic mode
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from cds.answer.modes import topic_modes
from cds.answer.runtime import knowledge_for
from cds.cards.app_link import app_launch_url
from cds.cards.render import CardContext, render_cards
from cds.cards.version import VERSION_EXTENSION
from cds.change.version import knowledge_version
from cds.engine import Assessment
from cds.knowledge import Knowledge
from cds.reader import Chart
from cds.services.call import HookCall
from cds.services.response import Answer

Reader = Callable[[HookCall, Knowledge], Chart]
Assessor = Callable[[Chart, datetime, Knowledge, Collection[str]], Assessment]


def render_answer(call: HookCall, assessment: Assessment, patient: str) -> Answer:
    """The cards to return and the cards of silent topics (for the audit); off topics, none."""
    shown, silent = topic_modes(call.settings).split(assessment.findings)
    if not shown and not silent:
        return Answer()
    knowledge = knowledge_for(call.settings)
    launch = app_launch_url(call.settings, call.base_url)
    version = {VERSION_EXTENSION: knowledge_version(call.settings).as_json()}
    ctx = CardContext(call.request.hook_instance, patient, call.base_url, knowledge, launch, version)
    return Answer(render_cards(shown, ctx), render_cards(silent, ctx))


def answer_call(call: HookCall, read: Reader, assess: Assessor) -> Answer:
    knowledge = knowledge_for(call.settings)
    chart = read(call, knowledge)
    assessment = assess(chart, call.now, knowledge, topic_modes(call.settings).hidden)
    return render_answer(call, assessment, chart.patient_id)
