"""PEP 811's vote rule, as a pure function.

"Membership is granted by receiving at least two-thirds positive votes from a
vote of existing PSRT members that is open for one week and is not vetoed by
the Steering Council." Two-thirds of the votes cast: abstentions are ballots
but not votes, so they count towards the quorum and not the fraction. The PEP
sets no quorum; `governance.quorum` (ballots, abstentions included) is the
team's own, 0 by default. Integer arithmetic: 3 x yes >= 2 x (yes + no).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CHOICES = ("yes", "no", "abstain")


@dataclass(frozen=True)
class Tally:
    yes: int
    no: int
    abstain: int
    quorum: int

    @property
    def ballots(self) -> int:
        return self.yes + self.no + self.abstain

    @property
    def votes_cast(self) -> int:
        return self.yes + self.no

    @property
    def quorate(self) -> bool:
        return self.ballots >= self.quorum

    @property
    def passed(self) -> bool:
        return self.quorate and self.votes_cast > 0 and 3 * self.yes >= 2 * self.votes_cast

    def explain(self) -> str:
        counts = (
            f"{self.yes} yes, {self.no} no, {self.abstain} abstaining "
            f"({self.ballots} ballot{'s' if self.ballots != 1 else ''})"
        )
        if not self.quorate:
            return f"{counts}: fewer ballots than the quorum of {self.quorum}, so it fails."
        if self.votes_cast == 0:
            return f"{counts}: no yes or no votes were cast, so it fails."
        share = f"{self.yes} of {self.votes_cast} votes cast are yes"
        verdict = (
            "at least two-thirds, so it passes"
            if self.passed
            else ("less than two-thirds, so it fails")
        )
        return f"{counts}: {share}, {verdict} (abstentions do not count)."


def tally(choices: Iterable[str], *, quorum: int = 0) -> Tally:
    counted = {choice: 0 for choice in CHOICES}
    for choice in choices:
        counted[choice] += 1
    return Tally(counted["yes"], counted["no"], counted["abstain"], quorum)
