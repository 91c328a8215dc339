"""The four crash windows a replay can run: price files, assets, default window and source notes.

Every price file is an hourly Binance spot series kept in ``fixtures/prices/`` (copied byte for byte from
the project's research data set; sources in docs/sources/crashes.md#crash-price-series, commits and columns in
``fixtures/prices/README.md``). Each holds event
day -3 ... +3 (168 hourly bars, UTC, bar open times). A replay uses the bars' ``close`` (USDT per coin, read
as USD per coin: USDT is taken at par, as the lending protocols' USDC is) from the window's ``start`` to its
``end`` (both inclusive, bar open times), one oracle step per bar.

Default window: event day -1 00:00 to event day +1 23:00 UTC (72 bars). It holds each crash's hourly low
(fixtures/prices/README.md, "Reference points") and a day before it, so positions opened at the window's
first close meet both the run-up and the fall, and a default replay stays within its time budget
(``toolkit/crash/run.py``).

The path between two closes is not observed: each close is one step for the oracles and one tick for the
engines, so an intra-hour wick below the closes (2025-10-10: ETH low 3,435 in the 21:00 bar) is not in the
path. ``steps_per_bar`` (:func:`load_paths`) interpolates linearly between closes instead, an assumption
stated with every result that uses it.

Minute resolution: an event with 1-minute bars (:attr:`CrashEvent.minutes`; 2025-10-10, Gemini) is replayed from
them by default (``resolution`` ``auto``; ``hourly`` keeps the Binance closes): a step every minute through the
cascade and every hour before and after it, over the event day (:mod:`toolkit.crash.minute_paths`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from toolkit.cex import PricePath
from toolkit.compare.prices import bar_path
from toolkit.crash.minute_paths import MinuteBars, minute_paths
from toolkit.errors import UserInputError

#: ``fixtures/prices`` of the checkout.
PRICE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "prices"
#: Assets a replay can drive, by the name the CLI takes, with the devchain token that carries them.
ASSET_TOKENS: dict[str, str] = {"ETH": "WETH", "BTC": "WBTC"}
#: Resolution of every path price: 1e-8 USD, the answer unit of a Chainlink USD feed and of Aave v3's oracle
#: (``BASE_CURRENCY_UNIT`` 1e8). Closes in the files have at most 8 decimals, so only interpolated ticks round.
PRICE_QUANTUM = Decimal("1e-8")
#: ``--resolution`` values: minute bars when the event has them (``auto``), or always the hourly closes.
RESOLUTIONS = ("auto", "minute", "hourly")


@dataclass(frozen=True)
class CrashEvent:
    """One crash: its id (the event day), a title, the hourly files per asset and where the story is told."""

    id: str
    title: str
    day: datetime
    files: dict[str, str]
    source: str
    notes: str
    #: 1-minute bars of the event day, when the fixtures have them.
    minutes: MinuteBars | None = None

    def resolution(self, requested: str) -> str:
        """``minute`` or ``hourly`` for a ``--resolution`` value (:data:`RESOLUTIONS`)."""
        if requested not in RESOLUTIONS:
            raise UserInputError(f"--resolution: choose one of {', '.join(RESOLUTIONS)}, got {requested!r}")
        if requested == "minute" and self.minutes is None:
            raise UserInputError(f"--resolution minute: the {self.id} event has no 1-minute bars; use hourly")
        return "minute" if requested != "hourly" and self.minutes is not None else "hourly"

    @property
    def window(self) -> tuple[datetime, datetime]:
        """Default window: event day -1 00:00 to day +1 23:00 UTC, both bar open times (module docstring)."""
        return self.day - timedelta(days=1), self.day + timedelta(days=1, hours=23)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """First and last bar of the files: event day -3 00:00 and day +3 23:00 UTC."""
        return self.day - timedelta(days=3), self.day + timedelta(days=3, hours=23)

    def path_file(self, asset: str) -> Path:
        """The hourly file of ``asset`` (``ETH`` or ``BTC``)."""
        return PRICE_DIR / self.files[check_asset(asset)]


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_CDD = ("andrewsiah/crypto-historical-data @ bcf8fc9e37a302ec94da12d9ac4907644fb1e0c9 "
        "(CryptoDataDownload export of Binance)")
_CCXT = ("hopeffy/economics-project-algorithmic-trading-algorithms @ d47d8be0a6e0af23b0bf96f61e8a8c81ed4aea2d "
         "(Binance via ccxt)")

#: The events, by id. Notes point at the case studies of docs/sources/crashes.md.
EVENTS: dict[str, CrashEvent] = {event.id: event for event in (
    CrashEvent("2020-03-12", "Black Thursday (COVID crash)", _day("2020-03-12"),
               {"ETH": "binance_spot_ETHUSDT_1h_2020-03-12_window.csv",
                "BTC": "binance_spot_BTCUSDT_1h_2020-03-12_window.csv"}, _CDD,
               "docs/sources/crashes.md#crash-2020-03-12: BitMEX outage 02:16-02:40 UTC on 13 Mar, ADL avoided; "
               "MakerDAO zero-bid auctions. "
               "Hourly lows: BTC 3782.13, ETH 86.00 (13 Mar 02:00)."),
    CrashEvent("2021-05-19", "19 May 2021 crash", _day("2021-05-19"),
               {"ETH": "binance_spot_ETHUSDT_1h_2021-05-19_window.csv",
                "BTC": "binance_spot_BTCUSDT_1h_2021-05-19_window.csv"}, _CDD,
               "docs/sources/crashes.md#crash-2021-05-19: more than $8.6B liquidated in 24 h (figures differ by "
               "source). "
               "Hourly lows: BTC 30000.00, ETH 1888.00 (19 May 13:00)."),
    CrashEvent("2022-11-08", "FTX collapse", _day("2022-11-08"),
               {"ETH": "binance_spot_ETHUSDT_1h_2022-11-08_window.csv",
                "BTC": "binance_spot_BTCUSDT_1h_2022-11-08_window.csv"}, _CCXT,
               "FTX halted withdrawals on 8 Nov 2022. Hourly lows: BTC 15588.0, ETH 1073.53 (9 Nov 23:00)."),
    CrashEvent("2025-10-10", "10 October 2025 tariff crash", _day("2025-10-10"),
               {"ETH": "binance_spot_ETHUSDT_1h_2025-10-10_window.csv",
                "BTC": "binance_spot_BTCUSDT_1h_2025-10-10_window.csv"}, _CCXT,
               "docs/sources/crashes.md#crash-2025-10-10: $19.13B liquidated in 24 h, Hyperliquid's first "
               "cross-margin ADL in over two years. Hourly lows: BTC 102000.0, ETH 3435.0 (10 Oct 21:00); "
               "Gemini 1-minute lows: BTC 107000.00 (21:26), ETH 3681.00 (21:14).",
               MinuteBars({"ETH": "gemini_ETHUSD_1m_ohlcv_2025-10-10_derived_from_trades.csv",
                           "BTC": "gemini_BTCUSD_1m_ohlcv_2025-10-10_derived_from_trades.csv"}, _day("2025-10-10"),
                          (_day("2025-10-10") + timedelta(hours=20),
                           _day("2025-10-10") + timedelta(hours=22, minutes=30)))),
)}


def crash_event(event_id: str) -> CrashEvent:
    """The event called ``event_id``; one clear error naming the known ones otherwise."""
    try:
        return EVENTS[event_id]
    except KeyError:
        raise UserInputError(f"--event: unknown event {event_id!r}; choose one of {', '.join(EVENTS)}") from None


def check_asset(asset: str) -> str:
    """``asset`` upper-cased when it is one a replay can drive (``ETH``, ``BTC``)."""
    name = asset.upper()
    if name not in ASSET_TOKENS:
        raise UserInputError(f"--asset: unknown asset {asset!r}; choose one of {', '.join(ASSET_TOKENS)}")
    return name


def quantized(path: PricePath) -> PricePath:
    """Every price of ``path`` rounded half-even to :data:`PRICE_QUANTUM` (module docstring)."""
    return PricePath(path.times, {symbol: tuple(p.quantize(PRICE_QUANTUM, ROUND_HALF_EVEN) for p in series)
                                  for symbol, series in path.marks.items()})


def load_paths(event: CrashEvent, *, start: datetime | None = None, end: datetime | None = None,
               steps_per_bar: int = 1, resolution: str = "hourly") -> dict[str, PricePath]:
    """The close path of every asset of ``event`` (keyed ``ETH``, ``BTC``; USD per coin, quantized to 1e-8)
    from ``start`` to ``end`` (UTC bar open times, inclusive; default :attr:`CrashEvent.window`), with
    ``steps_per_bar`` ticks per bar; from the minute bars when ``resolution`` resolves to ``minute`` (module
    docstring). Both assets share the same times."""
    if event.resolution(resolution) == "minute":
        assert event.minutes is not None
        if steps_per_bar != 1:
            raise UserInputError("--steps-per-bar interpolates hourly bars; with 1-minute bars leave it at 1 or "
                                 "pass --resolution hourly")
        return minute_paths(PRICE_DIR, event.minutes, start=start, end=end, quantum=PRICE_QUANTUM)
    default_start, default_end = event.window
    start, end = start or default_start, end or default_end
    first, last = event.bounds
    if start.tzinfo is None or end.tzinfo is None:
        raise UserInputError("--start/--end: give times in UTC (for example 2025-10-10T00:00Z)")
    if not first <= start < end <= last:
        raise UserInputError(f"--start/--end: the {event.id} window must satisfy {first:%Y-%m-%d %H:%M} <= start "
                             f"< end <= {last:%Y-%m-%d %H:%M} UTC; got {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}")
    paths = {asset: quantized(bar_path(event.path_file(asset), start=start, end=end, steps_per_bar=steps_per_bar))
             for asset in ASSET_TOKENS}
    if len({path.times for path in paths.values()}) != 1:
        raise UserInputError(f"prices: the {event.id} files of {', '.join(paths)} do not share their bar times")
    return paths
