"""``liqtk cex``: centralized-exchange liquidation engines (BitMEX-style margin, liquidation, insurance fund, ADL).

Loaded by :mod:`toolkit.cli` (:data:`~toolkit.cli.COMMANDS`) only when ``liqtk cex`` runs. Schemas and examples:
docs/cex.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.table import Table

from toolkit.cex.accounts import AccountSpec, MarginMode, PositionSpec
from toolkit.cex.engine import simulate as simulate_events
from toolkit.cex.instruments import parse_side
from toolkit.cex.io import (load_account, load_funding, load_positions, load_prices, parse_decimal, parse_time,
                            to_json, write_events, write_fund_path, write_json)
from toolkit.cex.liquidation import SlippageModel
from toolkit.cex.quotes import AccountQuote, quote_account
from toolkit.cex.vectorized import simulate_vectorized
from toolkit.cex.venues import VENUE_IDS, load_venue
from toolkit.cli import output
from toolkit.cli.options import JsonOption
from toolkit.errors import ToolkitError, UserInputError

cex_app = typer.Typer(
    help="Centralized-exchange liquidation engines: liquidation prices and population simulations "
         f"(venues: {', '.join(VENUE_IDS)}).",
    no_args_is_help=True,
)

F = TypeVar("F", bound=Callable[..., Any])

# flag names of the single-position form, for error messages
_FLAGS = {"symbol": "--symbol", "side": "--side", "size": "--qty", "entry_price": "--entry",
          "leverage": "--leverage", "mark_price": "--mark", "isolated_margin": "--isolated-margin", "mmr": "--mmr",
          "maintenance_amount": "--maintenance-amount"}


class Engine(str, Enum):
    event = "event"
    vectorized = "vectorized"


def _one_line_errors(command: F) -> F:
    """Print a ToolkitError as one ``error:`` line and exit with its code (2 for bad input)."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ToolkitError as exc:
            output.error(str(exc), exc.exit_code)
            raise typer.Exit(exc.exit_code) from None
    return wrapper  # type: ignore[return-value]


def _decimal_option(raw: str | None, flag: str) -> Decimal | None:
    return None if raw is None else parse_decimal(raw, flag)


def _single_position(venue: str | None, symbol: str | None, side: str | None, qty: str | None,
                     entry: str | None, leverage: str | None, mark: str | None,
                     isolated_margin: str | None, mmr: str | None = None,
                     maintenance_amount: str | None = None) -> tuple[str, AccountSpec]:
    given = {"--venue": venue, "--symbol": symbol, "--side": side, "--qty": qty, "--entry": entry,
             "--leverage": leverage}
    for flag, value in given.items():
        if value is None:
            raise UserInputError(f"{flag}: missing (give --venue, --symbol, --side, --qty, --entry and "
                                 "--leverage, or --account FILE)")
    spec = PositionSpec(symbol=symbol, side=parse_side(side, "--side"),  # type: ignore[arg-type]
                        size=parse_decimal(qty, "--qty"), entry_price=parse_decimal(entry, "--entry"),
                        leverage=parse_decimal(leverage, "--leverage"), mark_price=_decimal_option(mark, "--mark"),
                        isolated_margin=_decimal_option(isolated_margin, "--isolated-margin"),
                        mmr=_decimal_option(mmr, "--mmr"),
                        maintenance_amount=_decimal_option(maintenance_amount, "--maintenance-amount"))
    return venue, AccountSpec("cli", MarginMode.ISOLATED, Decimal(0), (spec,))  # type: ignore[return-value]


def _print_quote(quote: AccountQuote) -> None:
    table = Table(title=f"{quote.venue} {quote.margin_mode} margin (prices rounded: {quote.price_rounding})")
    for column in ("symbol", "side", "size", "entry", "mark", "lev", "liquidation", "bankruptcy",
                   "maint. margin", "rate", "tier", "era"):
        table.add_column(column, justify="left" if column in ("symbol", "side") else "right")
    for p in quote.positions:
        table.add_row(p.symbol, p.side, f"{p.size}", f"{p.entry_price}", f"{p.mark_price}", f"{p.leverage}",
                      f"{p.liquidation_price if p.liquidation_price is not None else 'none'}",
                      f"{p.bankruptcy_price if p.bankruptcy_price is not None else 'none'}",
                      f"{p.maintenance_margin} {p.settlement_currency}", f"{p.maintenance_rate}",
                      f"{p.tier if p.tier is not None else 'override'}",
                      p.era if p.tier is not None else "--mmr")
    output.table(table)
    for position in quote.positions:
        if position.tier is not None:
            valid = position.era_valid_from.date() if position.era_valid_from else "undated"
            output.result(f"{position.symbol} era {position.era} (from {valid}): {position.era_source}")
    for warning in quote.warnings:
        output.warn(warning)


@cex_app.command("liquidation-price")
@_one_line_errors
def liquidation_price(
    venue: Annotated[Optional[str], typer.Option(help=f"Venue profile: {', '.join(VENUE_IDS)}.")] = None,
    symbol: Annotated[Optional[str], typer.Option(help="Instrument, e.g. XBTUSD.")] = None,
    side: Annotated[Optional[str], typer.Option(help="long or short.")] = None,
    qty: Annotated[Optional[str], typer.Option(help="Contracts (XBTUSD: USD).")] = None,
    entry: Annotated[Optional[str], typer.Option(help="Average entry price.")] = None,
    leverage: Annotated[Optional[str], typer.Option(help="Leverage; isolated margin = entry value / leverage.")] = None,
    mark: Annotated[Optional[str], typer.Option(help="Mark price (default: the entry price).")] = None,
    isolated_margin: Annotated[Optional[str], typer.Option("--isolated-margin", help="Isolated margin in settlement currency instead of entry value / leverage.")] = None,
    mmr: Annotated[Optional[str], typer.Option("--mmr", help="Maintenance margin rate (fraction, e.g. 0.004) instead of the era's tier table.")] = None,
    maintenance_amount: Annotated[Optional[str], typer.Option("--maintenance-amount", help="Maintenance amount (Binance cum) in settlement currency, with --mmr (default: 0).")] = None,
    funding_rate: Annotated[str, typer.Option("--funding-rate", help="Next funding rate, e.g. -0.000139 (BitMEX adds it to maintenance for the paying side).")] = "0",
    account: Annotated[Optional[Path], typer.Option(help="account.json with several positions (cross or isolated); see docs/cex.md.")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Date selecting the risk-tier era (default: the latest era).")] = None,
    era: Annotated[Optional[str], typer.Option(help="Risk-tier era by name (e.g. legacy-100xbt).")] = None,
    store: Annotated[Optional[Path], typer.Option("--store", help="Also use the tier tables `liqtk cex fetch` stored there (eras dated by the fetch time).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Liquidation and bankruptcy price, maintenance margin and tier of one position or an account."""
    output.configure(json=json_output)
    rate = parse_decimal(funding_rate, "--funding-rate")
    moment = None if as_of is None else parse_time(as_of, "--as-of")
    if account is not None:
        single = {"--venue": venue, "--symbol": symbol, "--side": side, "--qty": qty, "--entry": entry,
                  "--leverage": leverage, "--mark": mark, "--isolated-margin": isolated_margin, "--mmr": mmr,
                  "--maintenance-amount": maintenance_amount}
        extra = [flag for flag, value in single.items() if value is not None]
        if extra:
            raise UserInputError(f"{extra[0]}: not allowed with --account (the file holds the positions)")
        venue_id, spec = load_account(account)
        name = account.name

        def label(field: str) -> str:
            return f"{name}: {field}"
    else:
        venue_id, spec = _single_position(venue, symbol, side, qty, entry, leverage, mark, isolated_margin, mmr,
                                          maintenance_amount)

        def label(field: str) -> str:
            return _FLAGS.get(field.rsplit(".", 1)[-1], field)
    profile = load_venue(venue_id)
    if store is not None:
        from toolkit.cex.fetched_eras import load_fetched
        profile = load_fetched(profile, store)
    quote = quote_account(profile, spec, label, funding_rate=rate, as_of=moment, era=era)
    record = asdict(quote)
    record["unverified_rules"] = profile.unverified()
    output.emit(to_json(record), lambda: _print_quote(quote))


@cex_app.command("simulate")
@_one_line_errors
def simulate(
    venue: Annotated[str, typer.Option(help=f"Venue profile: {', '.join(VENUE_IDS)}.")],
    prices: Annotated[Path, typer.Option(help="Price path CSV: timestamp, mark_price or index_price, and optionally symbol.")],
    positions: Annotated[Path, typer.Option(help="Positions CSV: account, symbol, side, size, entry_price, leverage, and optionally margin_mode, wallet_balance, isolated_margin, mmr, maintenance_amount.")],
    out: Annotated[Path, typer.Option(help="Output directory (events.csv, insurance_fund.csv, summary.json).")],
    funding: Annotated[Optional[Path], typer.Option(help="Funding rates CSV with timestamp and fundingRate (default: the venue's interest rate).")] = None,
    insurance_fund: Annotated[str, typer.Option("--insurance-fund", help="Starting insurance fund, settlement currency.")] = "0",
    engine: Annotated[Engine, typer.Option(help="event, or vectorized (isolated, one symbol).")] = Engine.event,
    seed: Annotated[int, typer.Option(help="Seed of the random ADL ordering (dydx-v4).")] = 0,
    slippage: Annotated[str, typer.Option(help="Fill spread, fraction of the mark.")] = "0",
    impact: Annotated[str, typer.Option(help="Extra fill slippage per settlement-currency unit of order value.")] = "0",
    era: Annotated[Optional[str], typer.Option(help="Risk-tier era by name (default: the era in force at the first tick).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Run a population of accounts over a price path; write events, the insurance-fund path and a summary."""
    output.configure(json=json_output)
    profile = load_venue(venue)
    accounts = load_positions(positions)
    symbols = sorted({p.symbol for a in accounts for p in a.positions})
    if funding is not None and len(symbols) > 1:
        raise UserInputError(f"--funding: a funding file holds one symbol's rates; the positions hold "
                             f"{', '.join(symbols)}")
    path, column = load_prices(prices, symbols[0] if len(symbols) == 1 else None)
    rates = None if funding is None else load_funding(funding, symbols[0])
    model = SlippageModel(parse_decimal(slippage, "--slippage"), parse_decimal(impact, "--impact"))
    run = simulate_vectorized if engine is Engine.vectorized else simulate_events
    with output.activity("cex simulate", lambda: {"accounts": len(accounts), "ticks": len(path.times)}):
        result = run(profile, accounts, path, insurance_fund=parse_decimal(insurance_fund, "--insurance-fund"),
                     funding_rates=rates, slippage=model, seed=seed, era=era, index_prices=column == "index_price")
    summary = {**result.summary(), "venue": profile.id, "engine": engine.value, "seed": seed,
               "ticks": len(path.times), "accounts": len(accounts), "price_column": column,
               "unverified_rules": profile.unverified()}
    write_events(result.events, out / "events.csv")
    write_fund_path(result.fund_path, out / "insurance_fund.csv")
    write_json(summary, out / "summary.json")
    if output.wants_json():
        output.result(to_json(summary))
        return
    table = Table(title=f"{profile.name}: {len(accounts)} accounts, {len(path.times)} ticks ({engine.value})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key != "unverified_rules":
            table.add_row(key, str(value))
    output.table(table)
    output.log("written", out=str(out))


from toolkit.cli import cex_data  # noqa: E402,F401  (registers `liqtk cex fetch` and `liqtk cex record`)
