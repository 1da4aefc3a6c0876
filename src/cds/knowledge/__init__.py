"""Reviewed clinical knowledge: lab codes and units, cut-offs, value sets, medicines, topics.

The JSON files next to this module are the single place where codes, cut-offs, advice and
card texts live. `load_knowledge` (the one loader) parses them once and applies a site's
cut-off overrides.
"""

from cds.knowledge.catalog import Knowledge
from cds.knowledge.loader import KnowledgeError, load_knowledge, raw_files
from cds.knowledge.model import (
    ALL_FAMILIES,
    Cutoff,
    LabDefinition,
    MedicationClass,
    PlausibleRange,
    TestDefinition,
    TopicInfo,
    ValueSet,
    ValueSetMember,
)
from cds.knowledge.words import MAX_CODE_LENGTH, MAX_NAME_LENGTH, code_fits, name_fits, word_form

__all__ = [
    "ALL_FAMILIES",
    "MAX_CODE_LENGTH",
    "MAX_NAME_LENGTH",
    "Cutoff",
    "Knowledge",
    "KnowledgeError",
    "LabDefinition",
    "MedicationClass",
    "PlausibleRange",
    "TestDefinition",
    "TopicInfo",
    "ValueSet",
    "ValueSetMember",
    "code_fits",
    "load_knowledge",
    "name_fits",
    "raw_files",
    "word_form",
]
