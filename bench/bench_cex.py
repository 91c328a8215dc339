"""Benchmark of the centralized liquidation engine (not a test).

``python bench/bench_cex.py [--positions N --ticks T --sample S --venue bitmex]``

* Population: N isolated XBTUSD accounts (one position each, 60% long), sizes 100-400,000 contracts (2%: 1.6M-3.5M,
  above the base risk limit, at most 40x), entries within ±2% of the first mark, leverage 1x-100x skewed to high
  leverage; seeded.
* Path: the 2020-03-12 crash: Binance BTCUSDT hourly closes of 2020-03-12 06:00 .. 2020-03-13 06:00
  (fixtures/prices) interpolated to T ticks on a regular step, plus seeded noise, rounded to the 0.5 tick; it
  crosses the BitMEX funding times, whose historical rates (fixtures/bitmex) are paid.
* The vectorized mode runs the whole population (funding events not recorded). The event engine and the
  vectorized mode then run the first S accounts on the same path; the speed-up compares their run times and
  the two results are checked to be identical.

Memory: the population lives in column arrays (money as exact ``Decimal`` objects); ticks are scanned in
blocks, so no N x T array is ever built. Prints a table and merges the figures into ``bench/results.json``
under ``"cex_engine"`` (read, update, write to a temporary file, atomic rename).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from benchlib import ROOT, argument_parser, peak_rss_mb, timed, write_results

from toolkit.cex.accounts import AccountSpec, MarginMode, PositionSpec
from toolkit.cex.engine import simulate
from toolkit.cex.io import load_funding
from toolkit.cex.marking import PricePath
from toolkit.cex.vectorized import simulate_vectorized
from toolkit.cex.venues import load_venue

PRICES = ROOT / "fixtures" / "prices" / "binance_spot_BTCUSDT_1h_2020-03-12_window.csv"
FUNDING = ROOT / "fixtures" / "bitmex" / "bitmex_XBTUSD_funding_history_2016-05_to_2020-11.csv"
START = datetime(2020, 3, 12, 6, tzinfo=UTC)
HOURS = 24


def crash_path(ticks: int, seed: int) -> PricePath:
    """The 2020-03-12 crash on ``ticks`` regular ticks (step = 24 h / ticks, whole seconds)."""
    frame = pd.read_csv(PRICES)
    times = pd.to_datetime(frame["open_time_utc"], utc=True)
    window = frame[(times >= START) & (times <= START + timedelta(hours=HOURS))]
    hours = (pd.to_datetime(window["open_time_utc"], utc=True) - START).dt.total_seconds().to_numpy()
    step = max(1, HOURS * 3600 // ticks)
    seconds = np.arange(ticks) * step
    rng = np.random.default_rng(seed)
    prices = np.interp(seconds, hours, window["close"].to_numpy()) * (1 + rng.normal(0, 0.0003, ticks))
    marks = tuple(Decimal(int(round(p * 2))) / 2 for p in prices)
    return PricePath(tuple(START + timedelta(seconds=int(s)) for s in seconds), {"XBTUSD": marks})


def population(count: int, price: float, seed: int) -> list[AccountSpec]:
    rng = np.random.default_rng(seed)
    sides = np.where(rng.random(count) < 0.6, 1, -1)
    whales = rng.random(count) < 0.02  # above the 200 XBT base risk limit: tier reductions first
    sizes = np.where(whales, rng.integers(16, 36, count) * 100_000, rng.integers(1, 4000, count) * 100)
    entries = np.round((price * (1 + rng.uniform(-0.02, 0.02, count))) * 2) / 2
    leverage = np.minimum(np.where(whales, 40, 100), np.maximum(1, np.round(100 * rng.beta(0.8, 1.6, count))))
    decimal = {}  # share Decimal objects between positions: far less memory for a million positions

    def d(value: float) -> Decimal:
        return decimal.setdefault(value, Decimal(str(value)))

    return [AccountSpec(f"a{i:07d}", MarginMode.ISOLATED, Decimal(0),
                        (PositionSpec("XBTUSD", int(sides[i]), d(int(sizes[i])), d(float(entries[i])),
                                      d(int(leverage[i]))),))
            for i in range(count)]


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--ticks", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=1_000, help="positions in the event-engine comparison")
    parser.add_argument("--venue", default="bitmex")
    parser.add_argument("--insurance-fund", type=Decimal, default=Decimal(36000), help="XBT (BitMEX had ~36k)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    venue = load_venue(args.venue)
    path = crash_path(args.ticks, args.seed)
    rates = load_funding(FUNDING, "XBTUSD")
    options = dict(insurance_fund=args.insurance_fund, funding_rates=rates, seed=args.seed)
    accounts, build_seconds = timed(population, args.positions, float(path.marks["XBTUSD"][0]), args.seed)

    result, vector_seconds = timed(simulate_vectorized, venue, accounts, path, record_funding=False, **options)
    summary = result.summary()
    del result

    sample = accounts[:args.sample]
    del accounts
    event_result, event_seconds = timed(simulate, venue, sample, path, **options)
    sample_result, sample_seconds = timed(simulate_vectorized, venue, sample, path, **options)
    identical = sample_result.events == event_result.events and sample_result.fund_path == event_result.fund_path

    position_ticks = args.positions * len(path.times)
    record = {
        "positions": args.positions, "ticks": len(path.times), "venue": args.venue,
        "tick_seconds": (path.times[1] - path.times[0]).total_seconds(),
        "build_seconds": round(build_seconds, 2), "vectorized_seconds": round(vector_seconds, 2),
        "position_ticks_per_second": round(position_ticks / vector_seconds),
        "liquidations": summary["liquidations"], "partial_liquidations": summary["partial_liquidations"],
        "adl_count": summary["adl_count"], "insurance_fund_end": float(summary["insurance_fund_end"]),
        "sample_positions": len(sample), "sample_event_seconds": round(event_seconds, 3),
        "sample_vectorized_seconds": round(sample_seconds, 3),
        "speedup_over_event_engine": round(event_seconds / sample_seconds, 1),
        "sample_results_identical": identical,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    width = max(map(len, record))
    print(f"{'measure':<{width}}  value")
    for key, value in record.items():
        print(f"{key:<{width}}  {value:,}" if isinstance(value, (int, float)) and not isinstance(value, bool)
              else f"{key:<{width}}  {value}")
    if not args.no_write:
        write_results("cex_engine", record)


if __name__ == "__main__":
    main()
