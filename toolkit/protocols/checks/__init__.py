"""``state_check``: every enriched row proves its state by redoing the protocol's own computation.

For each liquidation the protocol computed something from the state it saw (the collateral seized for
the debt repaid, at its oracle prices and bonus). A family's module here recomputes it from the state
the toolkit read (the row's state columns, plus inputs the adapter passes under ``_check_*`` keys) and
compares with the event, to the base unit:

* ``exact``: the recomputation gives the event's values (and, where the protocol requires it, the
  position was liquidatable: health factor below 1);
* ``mismatch``: it does not; ``state_check_recomputed_raw`` and ``state_check_event_raw`` hold the two
  values and ``state_check_detail`` says what differs. A finding to report, not an error: the pull goes on;
* ``unchecked``: the event does not carry enough to recompute, or the state was not read; the detail
  says which.

Modules: :mod:`~toolkit.protocols.checks.aave` (Aave v2/v3, Spark), :mod:`~toolkit.protocols.checks.compound_v2`
(Compound v2, Venus), :mod:`~toolkit.protocols.checks.morpho_blue`, :mod:`~toolkit.protocols.checks.compound_v3`
(Comet). Sources: docs/sources/state.md#state-check and each module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EXACT, MISMATCH, UNCHECKED = "exact", "mismatch", "unchecked"
#: Row keys an adapter may set for its family's check; removed before rows are stored.
INPUT_PREFIX = "_check_"
#: Families with a module here (the module's ``check(row, inputs)``).
CHECKED_FAMILIES = ("aave", "compound_v2", "morpho_blue", "compound_v3")
#: Why the other families' rows are ``unchecked``.
UNCHECKED_FAMILIES = {
    "aave_v1": "not recomputed: the formula of the Aave v1 liquidation manager deployed on mainnet is not pinned "
               "to a verified source here",
    "liquity": "the Liquity v1 events do not carry the price the liquidation used, and v2 rows take the event's own "
               "price: nothing to recompute from the state",
    "maker": "Bark/Bite and the auction events carry amounts moved, not a value the Dog or Cat computed from "
             "prices: nothing to recompute",
    "euler_v2": "the Euler v2 discount depends on the violator's health inside the liquidation, which the event "
                "does not carry: not recomputed",
}


@dataclass(frozen=True)
class Check:
    """The outcome for one row."""

    status: str
    detail: str
    recomputed: int | None = None
    event: int | None = None


#: ``check(row, inputs) -> Check`` of a family.
Checker = Callable[[dict[str, Any], dict[str, Any]], Check]


def checker(family: str) -> Checker | None:
    """The family's check, or None when its events do not carry enough to recompute."""
    if family not in CHECKED_FAMILIES:
        return None
    return importlib.import_module(f"toolkit.protocols.checks.{family}").check


def check_rows(family: str, rows: list[dict[str, Any]]) -> None:
    """Set the ``state_check`` columns of every row (and drop its ``_check_*`` inputs)."""
    check = checker(family)
    for row in rows:
        inputs = {key[len(INPUT_PREFIX):]: row.pop(key) for key in [k for k in row if k.startswith(INPUT_PREFIX)]}
        status = str(row.get("state_status") or "")
        if status != "ok" and not status.startswith("partial"):
            outcome = Check(UNCHECKED, f"state not read ({status or 'no state'})")
        elif check is None:
            outcome = Check(UNCHECKED, UNCHECKED_FAMILIES.get(family, f"no recomputation for the {family} family"))
        else:
            outcome = check(row, inputs)
        row.update(state_check=outcome.status, state_check_detail=outcome.detail,
                   state_check_recomputed_raw=None if outcome.recomputed is None else str(outcome.recomputed),
                   state_check_event_raw=None if outcome.event is None else str(outcome.event))

