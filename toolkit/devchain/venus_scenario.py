"""The Venus scenario: three real ``LiquidateBorrow`` liquidations on a pool from :mod:`toolkit.devchain.venus`.

Prices start at ETH $3,000, BTC $60,000, USDC $1 (USD-quoted, 1e(36-decimals)). Three borrowers
open positions (anvil accounts 12-14; 11 supplies liquidity, 15 liquidates), 200 blocks pass so
that interest accrues, then prices fall:

=====  ========  =================================  ===========================  ==============  ==========
liq.   borrower  position (collateral -> debt)      shortfall after              repaid          seized
=====  ========  =================================  ===========================  ==============  ==========
1      acct 12   10 WETH -> 22,000 USDC             ETH $2,700 (USD oracle)      5,000 USDC      vWETH
2      acct 13   1 WBTC -> 15 WETH                  BTC $50,000 (USD oracle)     5 WETH          vWBTC
3      acct 14   0.2 WBTC + 4,000 USDC -> 11,000    BTC 15 ETH (ETH oracle)      2,000 USDC      vUSDC
                 USDC
=====  ========  =================================  ===========================  ==============  ==========

Before liquidation 3 the comptroller switches to a second SimplePriceOracle that quotes in **ETH**
(WETH = exactly 1e18, the convention of Compound v2's oracles before the 2020 Open Price Feed,
where cETH answered 1e18; docs/sources/compound.md#compound-v2-prices), with ETH at $3,000 as the
devchain's ETH/USD feed says: BTC 15 ETH ($45,000), USDC 1/3000 ETH. Liquidation 3 seizes the
market it repays (vUSDC for a USDC borrow: the vToken's own ``seizeInternal`` path).

Every repayment stays below the close factor (50 % of the borrow). Afterwards three blocks are
mined so every liquidation is at or below the ``finalized`` tag (finalized = head - 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.devchain.venus import VenusMarket, usd_price_mantissa
from toolkit.errors import ToolkitError

if TYPE_CHECKING:  # only for annotations: devchain.py may import this module
    from toolkit.devchain.devchain import Devchain

LIQUIDITY_PROVIDER_INDEX = 11
LIQUIDATOR_INDEX = 15
#: Supplied by the liquidity provider so that the borrows can be served (human amounts).
LIQUIDITY: dict[str, str] = {"WETH": "100", "WBTC": "10", "USDC": "200000"}
#: Held by the liquidator (enough for every repayment).
LIQUIDATOR_FUNDS: dict[str, str] = {"WETH": "10", "USDC": "10000"}
#: Blocks mined between opening the positions and the price moves (interest accrues meanwhile).
ACCRUAL_BLOCKS = 200
#: Blocks mined after the last liquidation: finalized = head - 2 on the devchain.
FINALITY_BLOCKS = 3
#: The ETH-quoted oracle of liquidation 3: raw answers, ETH x 1e(36 - decimals).
ETH_QUOTED_PRICES: dict[str, int] = {
    "WETH": 10**18,
    "WBTC": 15 * 10**28,
    "USDC": 10**30 // 3000,
}


@dataclass(frozen=True)
class Position:
    """A borrower's position in human amounts and how the scenario liquidates it."""

    borrower_index: int
    collateral: dict[str, str]
    debt_symbol: str
    debt: str
    repay: str
    seize: str
    #: Price moves (symbol -> raw answer) applied before the liquidation, or ``None`` to switch
    #: to the ETH-quoted oracle :data:`ETH_QUOTED_PRICES`.
    price_moves: dict[str, int] | None


POSITIONS: tuple[Position, ...] = (
    Position(12, {"WETH": "10"}, "USDC", "22000", "5000", "WETH",
             {"WETH": usd_price_mantissa(2700, 18)}),
    Position(13, {"WBTC": "1"}, "WETH", "15", "5", "WBTC",
             {"WBTC": usd_price_mantissa(50000, 8)}),
    Position(14, {"WBTC": "0.2", "USDC": "4000"}, "USDC", "11000", "2000", "USDC", None),
)


def run_venus_scenario(devchain: Devchain, market: VenusMarket) -> list[dict[str, Any]]:
    """Open the :data:`POSITIONS`, move prices, liquidate each one; return one dict per liquidation.

    Each dict holds ``tx_hash``, ``block_number``, ``borrower``, ``liquidator``, ``debt_symbol``,
    ``collateral_symbol``, ``repay_amount`` (raw), ``debt_vtoken`` (the emitter),
    ``collateral_vtoken``, ``price_currency`` (``USD`` or ``ETH``) and ``shortfall`` (oracle units
    x 1e18, read just before the liquidation).

    :raises ToolkitError: if a position is not liquidatable when the scenario expects it to be.
    """
    accounts = devchain.accounts
    provider, liquidator = accounts[LIQUIDITY_PROVIDER_INDEX], accounts[LIQUIDATOR_INDEX]
    devchain.fund_and_supply(market, provider, LIQUIDITY)
    for symbol, amount in LIQUIDATOR_FUNDS.items():
        devchain.fund(liquidator, symbol, devchain.to_raw(symbol, amount))

    for pos in POSITIONS:
        borrower = accounts[pos.borrower_index]
        devchain.fund_and_supply(market, borrower, pos.collateral)
        market.enter_markets(borrower, list(pos.collateral))
        market.borrow(borrower, pos.debt_symbol, devchain.to_raw(pos.debt_symbol, pos.debt))
    devchain.mine(ACCRUAL_BLOCKS)

    liquidations = []
    for pos in POSITIONS:
        borrower = accounts[pos.borrower_index]
        if pos.price_moves is None:
            market.use_oracle(ETH_QUOTED_PRICES)
        else:
            for symbol, answer in pos.price_moves.items():
                market.set_price(symbol, answer)
        _, _, shortfall = market.account_liquidity(borrower)
        if shortfall == 0:
            raise ToolkitError(f"venus scenario: account {pos.borrower_index} has no shortfall after the price move")
        repay = devchain.to_raw(pos.debt_symbol, pos.repay)
        receipt = market.liquidate(liquidator, borrower, pos.debt_symbol, repay, pos.seize)
        liquidations.append({
            "tx_hash": receipt["transactionHash"].to_0x_hex(),
            "block_number": receipt["blockNumber"],
            "borrower": borrower,
            "liquidator": liquidator,
            "debt_symbol": pos.debt_symbol,
            "collateral_symbol": pos.seize,
            "repay_amount": repay,
            "debt_vtoken": market.market(pos.debt_symbol).address,
            "collateral_vtoken": market.market(pos.seize).address,
            "price_currency": "USD" if pos.price_moves is not None else "ETH",
            "shortfall": shortfall,
        })
    devchain.mine(FINALITY_BLOCKS)
    return liquidations
