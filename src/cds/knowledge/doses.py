"""When a combination product holds enough of an ingredient to count as therapy.

Low doses inside multivitamins neither treat a B12 deficiency nor give the folic acid
doses (1-5 mg a day) that can correct the anaemia of B12 deficiency while the nerve damage
goes on. A product naming other ingredients beside this one (a "/" between ingredients, a
pack, a multivitamin) counts only when its name states at least the minimum amount per unit,
or, where the rule allows, when it is injected. A single-ingredient product always counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

_COMBINATION = re.compile(r"/|\{|\bpack\b|\bmulti-?vitamins?\b|\bprenatal\b|\bvitamin b complex\b")
_INJECTED = re.compile(r"\binject")
_AMOUNT = r"\s*:?\s*([0-9]+(?:\.[0-9]+)?)\s*(mg|mcg|ug|µg|microgram)"


@dataclass(frozen=True)
class CombinationRule:
    """The least amount per unit (mg) of any of `names` that makes a combination count."""

    names: tuple[str, ...]  # lower-case ingredient names and aliases
    min_mg: float
    injection_counts: bool

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        alternatives = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
        return re.compile(rf"\b(?:{alternatives}){_AMOUNT}")

    def counts(self, name: str) -> bool:
        lower = name.lower()
        if not _COMBINATION.search(lower):
            return True
        if self.injection_counts and _INJECTED.search(lower):
            return True
        for amount, unit in self._pattern.findall(lower):
            milligrams = float(amount) / (1 if unit == "mg" else 1000)
            if milligrams >= self.min_mg:
                return True
        return False


def combination_rule(item: dict[str, Any]) -> CombinationRule | None:
    """The rule a medications.json class states under `combination_rule`, if any."""
    rule = item.get("combination_rule")
    if not rule:
        return None
    names = []
    for ingredient in item["ingredients"]:
        names.append(ingredient["name"].lower())
        names.extend(a.lower() for a in ingredient.get("aliases", ()))
    return CombinationRule(tuple(names), float(rule["min_mg_per_unit"]), bool(rule.get("injection_counts")))
