"""Bad input: one clear message naming the field, as a UserInputError (exit code 2 in the CLI)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from cexwork import FIXTURES, START, D, cross, isolated, label, path_of
from toolkit.cex.accounts import AccountSpec, MarginMode, PositionSpec
from toolkit.cex.engine import simulate
from toolkit.cex.instruments import LONG, SHORT
from toolkit.cex.io import load_account, load_funding, load_positions, load_prices
from toolkit.cex.quotes import quote_account
from toolkit.cex.vectorized import simulate_vectorized
from toolkit.cex.venues import load_venue
from toolkit.errors import UserInputError

BITMEX = load_venue("bitmex")


def prices_frame(stamps: list[str], prices: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": stamps, "mark_price": prices})


@pytest.mark.parametrize(("stamps", "prices", "message"), [
    (["2020-03-12T00:00Z", "2020-03-12T00:02Z", "2020-03-12T00:01Z"], ["1", "2", "3"],
     "row 4: timestamp 2020-03-12T00:01:00+00:00 is before the previous one"),
    (["2020-03-12T00:00Z", "2020-03-12T00:01Z", "2020-03-12T00:01Z"], ["1", "2", "3"],
     "row 4: duplicate timestamp"),
    (["2020-03-12T00:00Z", "2020-03-12T00:01Z", "2020-03-12T00:03Z"], ["1", "2", "3"],
     "gap in XBTUSD between 2020-03-12T00:01:00+00:00 and 2020-03-12T00:03:00+00:00"),
    (["2020-03-12T00:00Z", "2020-03-12T00:01Z"], ["1", "-2"], "row 3: mark_price must be positive"),
    (["2020-03-12T00:00Z", "yesterday"], ["1", "2"], "row 3: timestamp: 'yesterday' is not an ISO-8601"),
    (["2020-03-12T00:00Z", "2020-03-12T00:01Z"], ["1", "abc"], "row 3: mark_price: 'abc' is not a number"),
])
def test_bad_price_paths(stamps: list[str], prices: list[str], message: str) -> None:
    with pytest.raises(UserInputError, match="^prices: " + message.replace("(", r"\(").replace("+", r"\+")):
        load_prices(prices_frame(stamps, prices), "XBTUSD")


def test_real_minute_bars_with_missing_minutes_are_a_gap() -> None:
    """Gemini 1-minute bars of 2025-10-10 skip minutes without trades: as a price path that is a gap."""
    frame = pd.read_csv(FIXTURES / "prices" / "gemini_BTCUSD_1m_ohlcv_2025-10-10_derived_from_trades.csv", dtype=str)
    frame = frame.rename(columns={"minute_utc": "timestamp", "close": "mark_price"})
    with pytest.raises(UserInputError, match=r"^prices: gap in BTC between .* \(the path's step is 60 s\)"):
        load_prices(frame[["timestamp", "mark_price"]], "BTC")


def test_price_path_columns_and_symbols() -> None:
    both = pd.DataFrame({"timestamp": ["2020-03-12"], "mark_price": ["1"], "index_price": ["1"]})
    with pytest.raises(UserInputError, match="exactly one of the columns mark_price or index_price"):
        load_prices(both, "XBTUSD")
    with pytest.raises(UserInputError, match="missing column 'symbol'"):
        load_prices(prices_frame(["2020-03-12"], ["1"]))
    two = pd.DataFrame({"timestamp": ["2020-03-12T00:00Z", "2020-03-12T00:01Z", "2020-03-12T00:00Z"],
                        "symbol": ["A", "A", "B"], "mark_price": ["1", "1", "1"]})
    with pytest.raises(UserInputError, match="B does not have the same timestamps as A"):
        load_prices(two)
    unix = load_prices(prices_frame(["1583971200", "1583971260"], ["7900", "7901"]), "XBTUSD")[0]
    assert unix.times[0] == START


def test_funding_file_must_cover_the_path(tmp_path: Path) -> None:
    funding = tmp_path / "funding.csv"
    funding.write_text("timestamp,fundingRate\n2020-03-12T04:00:00Z,0.0001\n")
    rates = load_funding(funding)
    path = path_of(["8000"] * 30, "XBTUSD", step=timedelta(hours=1))
    with pytest.raises(UserInputError, match="funding: no rate for the funding time 2020-03-12T12:00:00"):
        simulate(BITMEX, [isolated("a", "XBTUSD", LONG, "100", "8000", "10")], path, funding_rates=rates)
    funding.write_text("timestamp,fundingRate\n2020-03-12T04:00:00Z,0.0001\n2020-03-12T04:00:00Z,0.0002\n")
    with pytest.raises(UserInputError, match="funding: row 3: duplicate funding time"):
        load_funding(funding)


@pytest.mark.parametrize(("position", "message"), [
    (PositionSpec("XBTUSD", LONG, D(-5), D(5000), D(10)), "size: must be positive, got -5"),
    (PositionSpec("XBTUSD", LONG, D("1.5"), D(5000), D(10)), "size: 1.5 is not a multiple of the XBTUSD lot size 1"),
    (PositionSpec("XBTUSD", LONG, D(100), D(0), D(10)), "entry_price: must be positive, got 0"),
    (PositionSpec("XBTUSD", LONG, D(100), D(5000), D(101)), "leverage: 101 is above the XBTUSD maximum 100 of tier 1"),
    (PositionSpec("XBTUSD", LONG, D(2_000_000), D(5000), D(100)),
     "leverage: 100 is above the XBTUSD maximum 50 of tier 3"),
    (PositionSpec("XBTUSD", LONG, D(10**8), D(5000), D(1)), "size: position size 20000 is above the largest"),
    (PositionSpec("XBTUSDT", LONG, D(1), D(5000), D(1)), "symbol: bitmex has no symbol 'XBTUSDT'"),
    (PositionSpec("XBTUSD", LONG, D(1), D(5000), D(1), maintenance_amount=D(1)),
     "maintenance_amount: give it together with mmr"),
    (PositionSpec("XBTUSD", LONG, D(1), D(5000), D(1), mmr=D(2)), "mmr: must be a fraction between 0 and 1"),
])
def test_bad_positions(position: PositionSpec, message: str) -> None:
    account = AccountSpec("a", MarginMode.ISOLATED, D(0), (position,))
    with pytest.raises(UserInputError, match="^positions\\[0\\]\\." + message.replace("(", r"\(")):
        quote_account(BITMEX, account, label)


def test_bad_accounts() -> None:
    spec = PositionSpec("XBTUSD", LONG, D(100), D(5000), D(10))
    with pytest.raises(UserInputError, match=r"positions\[1\].symbol: XBTUSD appears twice"):
        quote_account(BITMEX, AccountSpec("a", MarginMode.ISOLATED, D(0), (spec, spec)), label)
    with pytest.raises(UserInputError, match="wallet_balance: must not be negative"):
        quote_account(BITMEX, AccountSpec("a", MarginMode.CROSS, D(-1), (spec,)), label)
    with pytest.raises(UserInputError, match="a cross-margin account settles in one currency"):
        quote_account(BITMEX, cross("a", "1", spec, PositionSpec("COINUSDT", SHORT, D(1), D(1), D(1))), label,
                      as_of=START.replace(year=2025))
    with pytest.raises(UserInputError, match=r"isolated_margin: only isolated positions"):
        quote_account(BITMEX, cross("a", "1", PositionSpec("XBTUSD", LONG, D(1), D(1), D(1),
                                                           isolated_margin=D(1))), label)
    binance = load_venue("binance-usdm")
    with pytest.raises(UserInputError, match="as_of: no ETHUSDT era in force on 2022-01-01; the earliest starts "
                                             "2024-10-24"):  # the 2024-10-24 brackets are ETHUSDT's first table
        quote_account(binance, isolated("a", "ETHUSDT", LONG, "1", "1000", "5"), label,
                      as_of=START.replace(year=2022, month=1, day=1))
    with pytest.raises(UserInputError, match="venue: unknown venue 'ftx'; choose one of bitmex"):
        load_venue("ftx")


def test_vectorized_mode_rejects_cross_accounts() -> None:
    accounts = [cross("a", "1", PositionSpec("XBTUSD", LONG, D(100), D(8000), D(10)))]
    with pytest.raises(UserInputError, match="vectorized mode needs isolated accounts"):
        simulate_vectorized(BITMEX, accounts, path_of(["8000", "7000"], "XBTUSD"))


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "account.json: not valid JSON"),
    ("[]", "account.json: expected a JSON object"),
    ('{"venue": "bitmex", "margin_mode": "cross", "wallet_balance": 1}', "account.json: positions: missing"),
    ('{"venue": "bitmex", "margin_mode": "both", "wallet_balance": 1, "positions": [{}]}',
     r"account.json: positions\[0\].symbol: missing"),
    ('{"venue": "bitmex", "margin_mode": "both", "wallet_balance": 1, "positions": [{"symbol": "XBTUSD", '
     '"side": "long", "size": 1, "entry_price": 1, "leverage": 1}]}', "account.json: margin_mode: 'both' is not"),
    ('{"venue": "bitmex", "margin_mode": "cross", "wallet_balance": "x", "positions": [{"symbol": "XBTUSD", '
     '"side": "up", "size": 1, "entry_price": 1, "leverage": 1}]}', r"account.json: positions\[0\].side: 'up'"),
])
def test_malformed_account_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "account.json"
    path.write_text(content)
    with pytest.raises(UserInputError, match="^" + message):
        load_account(path)


def test_account_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "account.json"
    path.write_text(json.dumps({"venue": "bitmex", "margin_mode": "cross", "wallet_balance": "10000",
                                "positions": [{"symbol": "ETHUSDT", "side": "long", "size": 20,
                                               "entry_price": 1000, "leverage": 50, "mark_price": 1000}]}))
    venue, account = load_account(path)
    assert venue == "bitmex" and account.margin_mode is MarginMode.CROSS
    assert account.positions[0].size == D(20) and account.wallet_balance == D(10000)


def test_positions_file(tmp_path: Path) -> None:
    path = tmp_path / "positions.csv"
    path.write_text("account,symbol,side,size,entry_price,leverage,margin_mode,wallet_balance\n"
                    "a,XBTUSD,long,100,8000,10,,\n"
                    "b,XBTUSD,short,100,8000,10,cross,1\n"
                    "b,ETHUSD,short,100,200,10,cross,1\n")
    accounts = load_positions(path)
    assert [(a.account_id, a.margin_mode, len(a.positions)) for a in accounts] == [
        ("a", MarginMode.ISOLATED, 1), ("b", MarginMode.CROSS, 2)]
    path.write_text("account,symbol,side,size,entry_price,leverage,margin_mode,wallet_balance\n"
                    "b,XBTUSD,short,100,8000,10,cross,1\n"
                    "b,ETHUSD,short,100,200,10,cross,2\n")
    with pytest.raises(UserInputError, match="positions: row 3: margin_mode/wallet_balance: differ"):
        load_positions(path)
    path.write_text("account,symbol,side,size,entry_price\na,XBTUSD,long,100,8000\n")
    with pytest.raises(UserInputError, match="positions: missing column 'leverage'"):
        load_positions(path)
    with pytest.raises(UserInputError, match="positions: file .* not found"):
        load_positions(tmp_path / "missing.csv")
