"""The Aave version scenario: the same five liquidations on the devchain's Aave v3.0 and v3.6 markets.

Needs a devchain started with ``aave_v36=True``. On each market in turn (``aave_v3``: @aave/core-v3 1.19.3,
``aave_v36``: aave-v3-origin 3.6.0), the liquidity provider supplies, then for each :data:`CASES` entry a
borrower opens the position, the oracle moves one price, the liquidator calls ``liquidationCall`` with
``debtToCover = type(uint256).max`` (as much as the close factor allows) and the price is set back.
Prices start at ETH $3,000, BTC $60,000, USDC $1; the reserves have the same parameters on both markets
(WETH LTV 80.5 % / threshold 83 % / bonus 105 %, WBTC 73 / 78 / 105, USDC 77 / 80 / 104.5, protocol fee 10 %
of the bonus); e-mode category 1 (:data:`toolkit.devchain.aave_v36.EMODE`: LTV 90 %, threshold 93 %,
bonus 104 %) holds WETH as collateral and USDC as borrowable -- on v3.6 through the category's bitmaps,
on v3.0 (configured here, by the v3.0 pool admin) through the reserves' category bits.

===================  ==========================  ============================  ======  ===============================
case                 position                    move                          HF      what differs between versions
===================  ==========================  ============================  ======  ===============================
emode                10 WETH -> 26,400 USDC,     ETH $2,820                    0.993   nothing: e-mode threshold and
                     e-mode 1                                                          bonus on both
whole_position_half  10 WETH -> 15,000 USDC      ETH $2,850                    0.986   v3.0 50 % of the USDC debt;
                     + 0.15 WBTC                                                       v3.6 50 % of all debt ($12,000)
small_debt           1 WETH -> 1,900 USDC        ETH $2,200                    0.961   v3.0 50 %; v3.6 100 % (debt
                                                                                       below $2,000)
low_health_factor    1 WBTC -> 30,000 USDC       BTC $36,000                   0.936   nothing: 100 % (HF <= 0.95);
                                                                                       aTokens received
bad_debt             0.5 WBTC -> 15,000 USDC     BTC $20,000                   0.371   all collateral seized; v3.6
                     + 2 WETH                                                          burns the rest as deficit
                                                                                       (two DeficitCreated)
===================  ==========================  ============================  ======  ===============================

Accounts: 21 supplies liquidity, 22 liquidates, 23-27 borrow (the same borrower per case on both
markets: positions of different pools are independent); 20 deploys and administers v3.6. Three blocks are
mined at the end, so every liquidation is finalized (finalized = head - 2 on the devchain). Prices an earlier
scenario left moved (the demo's BTC crash) are set back to the starting ones first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from toolkit.devchain import aave_v3
from toolkit.devchain.aave_v36 import EMODE
from toolkit.devchain.assets import MAX_UINT256, TOKENS_BY_SYMBOL, USD_DECIMALS, to_raw
from toolkit.devchain.market import AaveMarket
from toolkit.devchain.scenario import FINALITY_BLOCKS, HF_CLOSE_FACTOR_THRESHOLD, HF_ONE
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.devchain.devchain import Devchain

LIQUIDITY_PROVIDER_INDEX = 21
LIQUIDATOR_INDEX = 22
#: Supplied by the liquidity provider on each market; held by the liquidator (human amounts).
LIQUIDITY: dict[str, str] = {"WETH": "100", "WBTC": "10", "USDC": "200000"}
LIQUIDATOR_FUNDS: dict[str, str] = {"USDC": "300000"}


@dataclass(frozen=True)
class Case:
    """One liquidation of the scenario (human amounts; ``price_move``: symbol and new USD price)."""

    name: str
    borrower_index: int
    collateral: dict[str, str]
    debts: dict[str, str]
    emode: int
    price_move: tuple[str, Decimal]
    seize: str
    debt_symbol: str
    receive_a_token: bool
    #: True when the health factor after the move is at or below 0.95 (else in (0.95, 1)).
    low_health_factor: bool


CASES: tuple[Case, ...] = (
    Case("emode", 23, {"WETH": "10"}, {"USDC": "26400"}, EMODE.id, ("WETH", Decimal(2820)), "WETH", "USDC",
         False, False),
    Case("whole_position_half", 24, {"WETH": "10"}, {"USDC": "15000", "WBTC": "0.15"}, 0, ("WETH", Decimal(2850)),
         "WETH", "USDC", False, False),
    Case("small_debt", 25, {"WETH": "1"}, {"USDC": "1900"}, 0, ("WETH", Decimal(2200)), "WETH", "USDC", False, False),
    Case("low_health_factor", 26, {"WBTC": "1"}, {"USDC": "30000"}, 0, ("WBTC", Decimal(36000)), "WBTC", "USDC",
         True, True),
    Case("bad_debt", 27, {"WBTC": "0.5"}, {"USDC": "15000", "WETH": "2"}, 0, ("WBTC", Decimal(20000)), "WBTC", "USDC",
         False, True),
)


def configure_emode_v30(devchain: Devchain) -> None:
    """Category :data:`~toolkit.devchain.aave_v36.EMODE` on the v3.0 market: ``setEModeCategory(id, ltv, lt,
    lb, oracle 0, label)`` and ``setAssetEModeCategory`` of its assets (@aave/core-v3 1.19.3
    ``PoolConfigurator.sol``; the category's threshold must exceed each member's own)."""
    market = devchain.v3
    configurator = devchain.chain.at(aave_v3.POOL_CONFIGURATOR, market.addresses()["poolConfigurator"])
    fns = configurator.functions
    devchain.chain.transact(fns.setEModeCategory(EMODE.id, EMODE.ltv, EMODE.liquidation_threshold,
                                                 EMODE.liquidation_bonus, aave_v3.ZERO_ADDRESS, EMODE.label))
    for symbol in (*EMODE.collateral, *EMODE.borrowable):
        devchain.chain.transact(fns.setAssetEModeCategory(market.reserve(symbol).underlying, EMODE.id))


def run_versions_scenario(devchain: Devchain) -> list[dict[str, Any]]:
    """Run :data:`CASES` on ``aave_v3`` then ``aave_v36``; return one dict per liquidation with ``market``,
    ``case``, ``pool``, ``tx_hash``, ``block_number``, ``user``, ``liquidator``, ``collateral_asset``,
    ``debt_asset``, ``collateral_symbol``, ``debt_symbol``, ``debt_to_cover`` (max uint256),
    ``receive_a_token``, ``emode`` and ``health_factor_before`` (wad, read just before).

    :raises ToolkitError: the devchain has no v3.6 market, or a position does not reach its health factor.
    """
    if devchain.v36 is None:
        raise ToolkitError("the version scenario needs a devchain started with aave_v36=True")
    accounts = devchain.accounts
    provider, liquidator = accounts[LIQUIDITY_PROVIDER_INDEX], accounts[LIQUIDATOR_INDEX]
    for symbol, amount in LIQUIDATOR_FUNDS.items():
        devchain.fund(liquidator, symbol, devchain.to_raw(symbol, amount))
    configure_emode_v30(devchain)
    liquidations = []
    for market in (devchain.v3, devchain.v36):
        _reset_prices(market)
        devchain.fund_and_supply(market, provider, LIQUIDITY)
        for case in CASES:
            liquidations.append(_run_case(devchain, market, case, liquidator))
    devchain.mine(FINALITY_BLOCKS)
    return liquidations


def _reset_prices(market: AaveMarket) -> None:
    """Set every price back to its starting value where an earlier scenario moved it (the demo's BTC crash)."""
    for symbol in market.reserves:
        start = to_raw(TOKENS_BY_SYMBOL[symbol].usd_price, USD_DECIMALS)
        if market.price(symbol) != start:
            market.set_price(symbol, start)


def _run_case(devchain: Devchain, market: AaveMarket, case: Case, liquidator: str) -> dict[str, Any]:
    user = devchain.accounts[case.borrower_index]
    if case.emode:
        market.set_user_emode(user, case.emode)
    devchain.fund_and_supply(market, user, case.collateral)
    for symbol, amount in case.debts.items():
        market.borrow(user, symbol, devchain.to_raw(symbol, amount))
    symbol, price = case.price_move
    market.set_price(symbol, to_raw(price, USD_DECIMALS))
    hf = market.account_data(user).health_factor
    if not (hf <= HF_CLOSE_FACTOR_THRESHOLD if case.low_health_factor else HF_CLOSE_FACTOR_THRESHOLD < hf < HF_ONE):
        raise ToolkitError(f"version scenario: {market.name} case {case.name} found health factor {hf / 1e18:.4f}, "
                           "outside the range it needs")
    receipt = market.liquidate(liquidator, case.seize, case.debt_symbol, user, MAX_UINT256, case.receive_a_token)
    market.set_price(symbol, to_raw(TOKENS_BY_SYMBOL[symbol].usd_price, USD_DECIMALS))
    return {"case": case.name, "emode": case.emode, **market.liquidation_record(
        receipt, user, liquidator, case.seize, case.debt_symbol, MAX_UINT256, case.receive_a_token, hf)}
