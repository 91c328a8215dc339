"""MakerDAO / Sky liquidations: Liquidations 2.0 (Dog + Clipper) and 1.x (Cat + Flipper) to rows.

Sources: makerdao/dss ``src/dog.sol``, ``src/clip.sol`` (2.0); ``src/cat.sol`` at tag 1.0.0 (Cat v1) and
before the Liq 2.0 commit (Cat v2), ``src/flip.sol``, ``src/lib.sol`` (LibNote) (1.x);
docs/sources/maker.md#liquidations-20-events, docs/sources/maker.md#liquidations-1x-events and
docs/sources/store.md#normalized-liquidation-record. One deployment per liquidation system
(``deployments/maker.toml``, ``params.liquidations`` = ``"2.0"`` or ``"1.x"``); both share this code.

Units (dss): collateral amounts ``ink``/``lot`` are Vat ``gem`` balances in **wad** (10^18) for every ilk,
whatever the token's own decimals (the GemJoin scales), so ``collateral_seized_raw`` has 18 decimals;
``art`` is normalised debt [wad] (not stored: ``due = art x rate`` is); ``due``, ``tab``, ``owe``,
``bid``, ``coin`` are internal DAI in **rad** (10^45); prices ``top``/``price`` and ``rate``, ``spot``,
``mat`` are **ray** (10^27). DAI amounts are stored in DAI base units (wad, the ERC-20's 18
decimals): exact rad integers are divided by 10^27 (RAY) once, at the end, rounding down, so a
stored DAI amount is low by less than 10^-18 DAI.

How an auction is stored: one row per log that moves debt or collateral, all with ``join_key`` =
``<auction contract>:<id>``, ``auction_id`` = ``<id>``, ``is_auction`` true, ``market_id`` = the ilk
name (``ETH-A``) and ``debt_asset`` = DAI. The other logs only update the auction's state, which the
adapter keeps across the chunks of one pull (one adapter instance), in log order:

=====================  =========================================  ==============================  ======================
log                    row                                        debt_repaid_raw (DAI wad)        collateral_seized_raw
=====================  =========================================  ==============================  ======================
Dog ``Bark``           ``Bark``: the vault liquidation            ``due``: debt taken off the      ``ink``
/ Cat ``Bite``         / ``Bite``                                 vault (``Bite.tab``, no penalty)
Clipper ``Kick``       merged into the ``Bark`` row of its          (sets the auction's ``tab``, incl. the
/ Flipper ``Kick``     transaction (``liquidator`` = ``kpr``)       penalty ``chop``, and ``lot``)
Clipper ``Take``       ``Take``: one sale                         ``owe`` (DAI paid)               lot before - lot after
Clipper ``Redo``       none (restarts the price; state only)
Flipper ``tend``,      none: anonymous LibNote logs (topic0 = the function selector; data = 0x20, 224, the
``dent``               first 224 bytes of calldata) that raise the bid / lower the lot; state only
Flipper ``deal``       ``deal``: the high bidder takes the lot    final ``bid``                    final ``lot``
Clipper ``Yank``       ``Yank`` / ``yank``: cancelled by End      ``0``                            ``0``
/ Flipper ``yank``     (Emergency Shutdown), which settles it
=====================  =========================================  ==============================  ======================

So ``Bark``/``Bite`` rows give the debt and collateral liquidated, auction rows the DAI raised and
collateral sold; do not add the two kinds together (Messari subgraphs issue #1502).

Bad debt (``bad_debt_mechanism`` = ``surplus_buffer`` on every row): ``bark`` (``bite``) moves the
vault's debt ``due`` = ``art x rate`` to the Vow as ``sin`` (``vow.fess(due)``, dog.sol/cat.sol); the
auction's proceeds go to the Vow. What they do not cover is cancelled against the surplus buffer
(``Vow.heal``), then by MKR ``flop`` auctions. The loss is recorded on the row that closes the
auction, in DAI wad: ``max(0, due - raised)``, where ``raised`` = ``Kick.tab - Take.tab`` at the last
``Take`` (``lot`` 0, or ``tab`` 0 with the rest of ``lot`` returned to the vault; clip.sol ``take``)
and the final ``bid`` at ``deal`` (flip.sol; ``tend`` requires ``bid > 0``, so the smallest bid is
1 rad: the 2020-03-12/13 "0 DAI" auctions raised 10^-45 DAI per lot and lost the whole debt).
Keeper incentives (``Kick.coin``, ``Redo.coin``) are also paid from the surplus but are costs, not
bad debt, and are not included. A yanked auction has no bad debt here: End settles it.

Incomplete: an auction row whose ``Kick``/``Bark`` (``Bite``) or earlier bids are not in what was
decoded gets ``incomplete_reason`` and null for what it cannot know; a ``Bark``/``Bite`` of a custom
deployment (``--address``) naming an auction contract that is not among its emitters (so its logs were not
requested) says so. The registry's deployments discover the auction contracts from the ``Bark``/``Bite``
logs themselves (``toolkit.protocols.discovery.auctions``), so theirs are always requested.

Enrichment (``Bark``/``Bite`` rows, at ``block_number - 1``): ``Dog.ilks`` / ``Cat.ilks`` (``chop``: wad in the Dog
and Cat v2, **ray** in Cat v1; the emitter says which), ``Spotter.ilks`` (``mat``, ray), ``Vat.ilks`` (``rate``,
``spot``), ``Vat.urns`` (the vault before). Collateral price = ``spot x mat`` (DAI per collateral unit, ray): the
OSM price of the last ``Spotter.poke`` (docs/sources/maker.md#risk-parameters-and-price; wrong if ``mat`` changed
since). DAI is valued at par (1 USD). ``liquidation_threshold_bps`` = ``1/mat``; ``liquidation_bonus_bps`` =
``chop`` (the penalty, incl. 100%); health factor = ``ink x spot / (art x rate)`` (below 1 the vault is unsafe,
dog.sol ``bark``). Maker has no close factor (``close_factor_bps`` null, the rule says what limits a liquidation).
Auction rows need no read.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from toolkit.abi import EventSpec, LogDecodeError, load_abi
from toolkit.errors import ToolkitError
from toolkit.protocols.base import Call, CallFailed, StateCaller, error_record, log_identity, read_calls
from toolkit.protocols.event_args import Joined, args_object, event_args_json, joined, spec_args
from toolkit.protocols.registry import Deployment

DOG = load_abi("maker/Dog.json")
CLIPPER = load_abi("maker/Clipper.json")
CAT = load_abi("maker/Cat.json")
FLIPPER = load_abi("maker/Flipper.json")
SPOTTER = load_abi("maker/Spotter.json")
VAT = load_abi("maker/Vat.json")

WAD, RAY, RAD = 10**18, 10**27, 10**45
BPS = 10_000


def _note_topic(selector: bytes) -> str:
    """topic0 of a LibNote log: the 4-byte selector left-aligned in 32 bytes (lib.sol ``shl(224, ...)``)."""
    return "0x" + selector.hex() + "00" * 28


#: topic0 -> (event spec, or function name of a LibNote log; kind) of every log the adapter reads.
EVENTS_2_0: dict[str, tuple[EventSpec | str, str]] = {
    DOG.event("Bark").topic0: (DOG.event("Bark"), "liquidation"),
    CLIPPER.event("Kick").topic0: (CLIPPER.event("Kick"), "kick"),
    CLIPPER.event("Take").topic0: (CLIPPER.event("Take"), "take"),
    CLIPPER.event("Redo").topic0: (CLIPPER.event("Redo"), "redo"),
    CLIPPER.event("Yank").topic0: (CLIPPER.event("Yank"), "yank"),
}
EVENTS_1_X: dict[str, tuple[EventSpec | str, str]] = {
    CAT.event("Bite").topic0: (CAT.event("Bite"), "liquidation"),
    FLIPPER.event("Kick").topic0: (FLIPPER.event("Kick"), "kick"),
    **{_note_topic(FLIPPER.fn(name).selector): (name, name) for name in ("tend", "dent", "deal", "yank")},
}

#: Size of a LibNote log's data: bytes offset, bytes length, 224 bytes of calldata (lib.sol).
_NOTE_DATA_BYTES = 32 + 32 + 224


#: A ``Kick`` of the current transaction: its values and its ``event_args`` entry.
_Kick = tuple[dict[str, Any], Joined]


@dataclass
class _Auction:
    """What is known of one auction; None = not seen in what was decoded (units in the module docstring)."""

    join_key: str
    ilk: str | None = None
    urn: str | None = None
    due: int | None = None  # debt moved to the Vow [rad]
    tab_start: int | None = None  # DAI to raise at Kick, penalty included [rad]
    lot: int | None = None  # collateral for sale [wad]
    bid: int | None = None  # high bid (Flipper) [rad]
    guy: str | None = None  # high bidder (Flipper)

    def loss(self, raised: int | None) -> int | None:
        """Bad debt [rad] when ``raised`` DAI [rad] closes the auction; None when either is unknown."""
        return None if self.due is None or raised is None else max(0, self.due - raised)

    def incomplete(self, event: str, unknown: list[str]) -> str | None:
        """``incomplete_reason`` of a row of this auction that cannot know ``unknown``."""
        if not unknown:
            return None
        return (f"{event} of auction {self.join_key} whose Bark/Bite, Kick or earlier bids are not in the "
                f"pulled range: {' and '.join(unknown)} unknown")


def _dai(rad: int | None) -> str | None:
    """A rad amount as DAI base units (wad), rounded down; see the module docstring."""
    return None if rad is None else str(rad // RAY)


def ilk_name(ilk: str) -> str:
    """``0x4554482d41…`` -> ``ETH-A``; the hex itself when the bytes are not printable ASCII."""
    raw = bytes.fromhex(ilk[2:]).rstrip(b"\0")
    return raw.decode("ascii") if raw and raw.isascii() and raw.decode("ascii").isprintable() else ilk


def ilk_bytes(name: str) -> bytes:
    """Inverse of :func:`ilk_name`: the bytes32 ``Vat``/``Dog``/``Spotter`` are keyed by."""
    if name.startswith("0x") and len(name) == 66:
        return bytes.fromhex(name[2:])
    return name.encode("ascii").ljust(32, b"\0")


def _word(data: bytes, index: int) -> int:
    return int.from_bytes(data[32 * index:32 * index + 32], "big")


def decode_note(log: dict[str, Any], selector: bytes, args: int) -> tuple[str, list[int]]:
    """(caller, first ``args`` calldata words) of a LibNote log of the function with ``selector``."""
    topics, data = log["topics"], str(log["data"])
    if len(topics) != 4:
        raise LogDecodeError(f"LibNote log has 4 topics, this one has {len(topics)}")
    try:
        payload = bytes.fromhex(data[2:] if data.startswith("0x") else data)
    except ValueError:
        raise LogDecodeError("LibNote data is not valid hex") from None
    if len(payload) != _NOTE_DATA_BYTES or _word(payload, 0) != 32 or _word(payload, 1) != 224:
        raise LogDecodeError(f"LibNote data is {len(payload)} bytes, expected 0x20, 224 and 224 bytes of calldata")
    calldata = payload[64:]
    if calldata[:4] != selector:
        raise LogDecodeError("LibNote calldata does not start with the selector of its topic0")
    caller = "0x" + str(topics[1])[-40:].lower()
    return caller, [_word(calldata[4:], k) for k in range(args)]


class MakerAdapter:
    """Adapter for the ``maker`` family (protocol id ``maker``); see the module docstring."""

    family = "maker"

    def __init__(self) -> None:
        #: Auction state by (auction contract, id), kept across the chunks of one run.
        self._auctions: dict[tuple[str, int], _Auction] = {}

    @staticmethod
    def _events(deployment: Deployment) -> dict[str, tuple[EventSpec | str, str]]:
        system = deployment.params.get("liquidations")
        if system not in ("2.0", "1.x"):
            raise ToolkitError(f"maker deployment {deployment.name} has params.liquidations {system!r}; "
                               "set '2.0' or '1.x' in deployments/maker.toml")
        return EVENTS_2_0 if system == "2.0" else EVENTS_1_X

    def topics0(self, deployment: Deployment) -> tuple[str, ...]:
        return tuple(self._events(deployment))

    def decode_logs(self, logs: list[dict[str, Any]], deployment: Deployment) -> list[dict[str, Any]]:
        """Rows in log order; each transaction's ``Kick`` logs are read before its ``Bark``/``Bite``."""
        events = self._events(deployment)
        out: list[dict[str, Any]] = []
        kicks: dict[tuple[str, int], _Kick] = {}  # Kicks of the current transaction
        tx: str | None = None
        for log in logs:
            try:
                identity = log_identity(log, deployment)
                if identity["tx_hash"] != tx:
                    self._orphan_kicks(kicks)
                    tx = identity["tx_hash"]
                topic0 = str((log["topics"] or [""])[0]).lower()
                if topic0 not in events:
                    raise LogDecodeError(f"topic0 {topic0} is not a Maker {deployment.params['liquidations']} log")
                spec, kind = events[topic0]
                if isinstance(spec, EventSpec):
                    values = spec.decode(log["topics"], log["data"])
                else:
                    caller, words = decode_note(log, FLIPPER.fn(spec).selector, 3 if kind in ("tend", "dent") else 1)
                    values = {"id": words[0], "guy": caller, **({"lot": words[1], "bid": words[2]} if words[1:] else {})}
                if kind == "kick":
                    kicks[(identity["emitter"], values["id"])] = (values, joined(spec, identity["log_index"], values))
                    continue
                args = (spec_args(spec, values) if isinstance(spec, EventSpec)
                        else args_object(("id", "guy", "lot", "bid"), values))
                row = (self._liquidation(spec.name, values, identity, kicks, deployment) if kind == "liquidation"
                       else self._auction_log(kind, values, identity, deployment))
                if row is not None:
                    kick = row.pop("_kick", None)
                    row["event_args"] = event_args_json(args, [kick] if kick else [])
            except LogDecodeError as exc:
                out.append(error_record(log, str(exc)))
                continue
            if row is not None:
                out.append(row)
        self._orphan_kicks(kicks)
        return out

    def _orphan_kicks(self, kicks: dict[tuple[str, int], _Kick]) -> None:
        """Kicks without a Bark/Bite in their transaction (a custom deployment): state without the debt."""
        for (contract, auction_id), (values, _) in kicks.items():
            _start(self._auctions.setdefault((contract, auction_id), _Auction(f"{contract}:{auction_id}")), values)
        kicks.clear()

    def _liquidation(self, event: str, values: dict[str, Any], identity: dict[str, Any],
                     kicks: dict[tuple[str, int], _Kick], deployment: Deployment) -> dict[str, Any]:
        """The ``Bark``/``Bite`` row, with the auction's ``Kick`` of the same transaction."""
        contract = values["clip" if event == "Bark" else "flip"]
        key = (contract, values["id"])
        auction = _Auction(f"{contract}:{values['id']}", ilk=ilk_name(values["ilk"]), urn=values["urn"],
                           due=values["due" if event == "Bark" else "tab"], lot=values["ink"])
        self._auctions[key] = auction
        found = kicks.pop(key, None)
        kick = found[0] if found else None
        if kick is not None:
            _start(auction, kick)
        reason = None
        if contract not in deployment.emitters and not deployment.discovery:
            # a discovered deployment reads every auction contract its Bark/Bite logs named up to the pulled block
            reason = (f"auction contract {contract} is not among the deployment's emitters, so its auction logs "
                      "were not requested; pull the registry's maker deployment (it discovers them)")
        return _row(identity, auction, event, key[1], deployment, borrower=values["urn"],
                    liquidator=kick.get("kpr") if kick else None, debt_repaid_raw=_dai(auction.due),
                    collateral_seized_raw=str(values["ink"]), incomplete_reason=reason,
                    _kick=found[1] if found else None)

    def _auction_log(self, kind: str, values: dict[str, Any], identity: dict[str, Any],
                     deployment: Deployment) -> dict[str, Any] | None:
        """Apply a Take/Redo/Yank or tend/dent/deal/yank to its auction; the row when it moves funds."""
        key = (identity["emitter"], values["id"])
        auction = self._auctions.setdefault(key, _Auction(f"{key[0]}:{key[1]}"))
        if kind == "redo":
            auction.lot = values["lot"]
            return None
        if kind in ("tend", "dent"):
            auction.bid, auction.lot, auction.guy = values["bid"], values["lot"], values["guy"]
            return None
        if kind == "take":
            sold = None if auction.lot is None else auction.lot - values["lot"]
            closes = values["lot"] == 0 or values["tab"] == 0
            raised = None if auction.tab_start is None else auction.tab_start - values["tab"]
            loss = auction.loss(raised) if closes else None
            unknown = (["collateral sold"] if sold is None else []) + (["bad debt"] if closes and loss is None else [])
            auction.lot = values["lot"]
            if closes:
                self._auctions.pop(key)
            return _row(identity, auction, "Take", key[1], deployment, borrower=values["usr"],
                        debt_repaid_raw=_dai(values["owe"]), collateral_seized_raw=None if sold is None else str(sold),
                        bad_debt_raw=_dai(loss), incomplete_reason=auction.incomplete("Take", unknown))
        self._auctions.pop(key)
        if kind == "deal":
            loss = auction.loss(auction.bid)
            unknown = (["DAI raised"] if auction.bid is None else []) + (
                ["collateral sold"] if auction.lot is None else []) + (["bad debt"] if loss is None else [])
            return _row(identity, auction, "deal", key[1], deployment, borrower=auction.urn, liquidator=auction.guy,
                        debt_repaid_raw=_dai(auction.bid), collateral_seized_raw=_str(auction.lot),
                        bad_debt_raw=_dai(loss), incomplete_reason=auction.incomplete("deal", unknown))
        event = "yank" if "guy" in values else "Yank"  # Flipper note / Clipper event
        return _row(identity, auction, event, key[1], deployment, borrower=auction.urn, debt_repaid_raw="0",
                    collateral_seized_raw="0")

    async def enrich(self, rows: list[dict[str, Any]], deployment: Deployment, state: StateCaller) -> None:
        liquidations = [r for r in rows if r["event"] in ("Bark", "Bite")]
        calls: dict[Hashable, Call] = {}
        for row in liquidations:
            block, ilk = row["block_number"] - 1, ilk_bytes(row["market_id"])
            calls[("ilk", row["emitter"], block, ilk)] = Call(
                block, row["emitter"], (DOG if row["event"] == "Bark" else CAT).fn("ilks"), (ilk,))
            calls[("spot", block, ilk)] = Call(block, deployment.address("spotter"), SPOTTER.fn("ilks"), (ilk,))
            calls[("vat", block, ilk)] = Call(block, deployment.address("vat"), VAT.fn("ilks"), (ilk,))
            calls[("urn", block, ilk, row["borrower"])] = Call(
                block, deployment.address("vat"), VAT.fn("urns"), (ilk, row["borrower"]))
        results = await read_calls(state, calls) if calls else {}
        for row in rows:
            if row["event"] not in ("Bark", "Bite"):
                row.update(_dai_columns(row), state_status="ok")
                continue
            try:
                row.update(_liquidation_columns(row, results, deployment), state_status="ok")
            except CallFailed as failure:
                row["state_status"] = f"unavailable: {failure}"


def _start(auction: _Auction, kick: dict[str, Any]) -> None:
    """Apply a ``Kick`` (Clipper: tab, lot; Flipper: tab, lot, bid) to the auction."""
    auction.tab_start, auction.lot = kick["tab"], kick["lot"]
    auction.bid = kick.get("bid")
    auction.urn = auction.urn or kick["usr"]


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _row(identity: dict[str, Any], auction: _Auction, event: str, auction_id: int, deployment: Deployment,
         **fields: Any) -> dict[str, Any]:
    """A Maker row: the defaults every event shares, then ``fields``."""
    row = dict(identity)
    row.update(
        market_id=auction.ilk,
        event=event,
        borrower=None,
        liquidator=None,
        debt_asset=deployment.address("dai"),
        collateral_asset=None,
        collateral_token=None,
        receive_a_token=None,
        bad_debt_raw=None,
        bad_debt_mechanism="surplus_buffer",
        join_key=auction.join_key,
        is_auction=True,
        auction_id=str(auction_id),
        incomplete_reason=None,
    )
    row.update(fields)
    row["collateral_token_seized_raw"] = row["collateral_seized_raw"]
    return row


def _dai_columns(row: dict[str, Any]) -> dict[str, Any]:
    """Columns every Maker row gets without a read: DAI (wad) at par, collateral in Vat wad."""
    def amount(raw: str | None) -> float | None:
        return None if raw is None else float(Fraction(int(raw), WAD))

    return {
        "debt_symbol": "DAI",
        "debt_decimals": 18,
        "collateral_decimals": 18,
        "debt_repaid": amount(row["debt_repaid_raw"]),
        "collateral_seized": amount(row["collateral_seized_raw"]),
        "debt_price_usd": 1.0,
        "debt_repaid_usd": amount(row["debt_repaid_raw"]),
        "bad_debt_usd": amount(row["bad_debt_raw"]),
        "price_source": "DAI valued at par (1 USD)",
    }


def _liquidation_columns(row: dict[str, Any], results: dict[Hashable, Any], deployment: Deployment) -> dict[str, Any]:
    """State columns of a ``Bark``/``Bite`` row (module docstring, "Enrichment")."""
    block, ilk = row["block_number"] - 1, ilk_bytes(row["market_id"])

    def get(key: Hashable) -> tuple[Any, ...]:
        value = results[key]
        if isinstance(value, CallFailed):
            raise value
        return value

    _, chop, limit = get(("ilk", row["emitter"], block, ilk))[:3]
    mat = get(("spot", block, ilk))[1]
    rate, spot = get(("vat", block, ilk))[1:3]
    ink, art = get(("urn", block, ilk, row["borrower"]))
    if mat == 0 or art == 0 or rate == 0:
        raise CallFailed(f"ilk {row['market_id']} or vault {row['borrower']} is empty at block {block}")
    price = spot * mat // RAY  # DAI per collateral unit [ray]
    health = ink * spot * WAD // (art * rate)
    seized = Fraction(int(row["collateral_seized_raw"]), WAD)
    cat_v1 = row["emitter"] == str(deployment.contracts.get("cat_v1", "")).lower()
    chop_unit = RAY if cat_v1 else WAD
    if row["event"] == "Bark":
        rule = (f"Maker Liquidations 2.0: no close factor; bark takes the whole vault unless the room under Dog "
                f"Hole - Dirt and the ilk's hole - dirt limits it (dog.sol bark); ilk hole {limit} rad")
    elif cat_v1:
        rule = f"Maker Cat v1: a bite takes at most lump collateral (cat.sol 1.0.0 bite); lump {limit} wad"
    else:
        rule = f"Maker Cat v2: a bite is limited by dunk and the box - litter room (cat.sol bite); dunk {limit} rad"
    return {
        **_dai_columns(row),
        "state_block": block,
        "price_currency": "DAI",
        "price_unit_raw": str(RAY),
        "debt_price_raw": str(RAY),
        "collateral_price_raw": str(price),
        "collateral_price_usd": float(Fraction(price, RAY)),
        "price_source": (f"Vat.ilks spot x Spotter.ilks mat at block {block} (OSM price at the last "
                         "Spotter.poke); DAI valued at par (1 USD)"),
        "liquidation_threshold_bps": BPS * RAY // mat,
        "liquidation_bonus_bps": BPS * chop // chop_unit,
        "protocol_fee_bps": None,
        "close_factor_bps": None,
        "close_factor_rule": rule,
        "health_factor_before_raw": str(health),
        "health_factor_before": float(Fraction(health, WAD)),
        "borrower_collateral_usd": float(Fraction(ink * price, WAD * RAY)),
        "borrower_debt_usd": float(Fraction(art * rate, RAD)),
        "collateral_seized_usd": float(seized * Fraction(price, RAY)),
    }


#: The adapter of the ``maker`` family (see :mod:`toolkit.protocols`).
ADAPTER = MakerAdapter
