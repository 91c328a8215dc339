"""The demo scenario: real liquidations on both markets of a fresh :class:`~toolkit.devchain.Devchain`.

Prices start at ETH $3,000, BTC $60,000, USDC $1 (v2: WBTC 20 ETH, USDC 1/3000 ETH, ETH/USD
$3,000). Four borrowers open positions, then BTC falls to $48,000 on both markets (v3 WBTC/USD feed
48,000e8; v2 WBTC/ETH feed 16e18; ETH/USD unchanged, so the two markets agree on every USD price)
and one liquidator (anvil account 6) liquidates every borrower:

=======  ========  ===============================  ======================  ==============  =========
market   borrower  position (collateral -> debt)    HF after the BTC drop   debtToCover     aTokens
=======  ========  ===============================  ======================  ==============  =========
aave_v3  acct 2    5 WETH + 0.5 WBTC -> 32,000 USDC  0.974 (50 % close f.)   10,000 USDC     no
aave_v3  acct 3    1 WBTC -> 14 WETH                 0.891 (100 % close f.)  max uint256     yes
aave_v2  acct 4    5 WETH + 0.5 WBTC -> 31,000 USDC  0.980                   8,000 USDC      no
aave_v2  acct 5    1 WBTC -> 13.5 WETH               0.889                   max uint256     yes
=======  ========  ===============================  ======================  ==============  =========

Rows 1 and 3 (one per market) are partial liquidations (below the close-factor maximum) that
seize WETH for USDC debt; rows 2 and 4 request ``type(uint256).max``: on v3 (HF <= 0.95, close factor
100 %) the whole WETH debt is repaid, on v2 the fixed 50 % close factor caps it at half.
Afterwards three blocks are mined so every liquidation is at or below the ``finalized`` tag
(anvil ``--slots-in-an-epoch 1``: finalized = head - 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from toolkit.devchain.assets import (
    MAX_UINT256,
    TOKENS_BY_SYMBOL,
    USD_DECIMALS,
    to_raw,
    usd_to_eth_answer,
)
from toolkit.devchain.devchain import Devchain
from toolkit.devchain.market import AaveMarket
from toolkit.errors import ToolkitError

#: anvil default account indices used by the demo.
LIQUIDITY_PROVIDER_INDEX = 1
LIQUIDATOR_INDEX = 6

#: Health factor thresholds (wad): liquidatable below 1; v3 100 % close factor at or below 0.95
#: (``LiquidationLogic.sol`` L68).
HF_ONE = 10**18
HF_CLOSE_FACTOR_THRESHOLD = 95 * 10**16

ETH_USD = TOKENS_BY_SYMBOL["WETH"].usd_price
BTC_USD_CRASH = Decimal(48000)
#: Blocks mined after the last liquidation: finalized = head - 2 on the devchain.
FINALITY_BLOCKS = 3


@dataclass(frozen=True)
class Position:
    """A borrower's position in human amounts, and how the demo liquidates it."""

    market: str
    borrower_index: int
    collateral: dict[str, str]
    debt_symbol: str
    debt: str
    seize: str
    debt_to_cover: str | None
    receive_a_token: bool

    @property
    def kind(self) -> str:
        """``"partial"``: a fixed amount below the close-factor maximum; ``"full"``: max uint256."""
        return "partial" if self.debt_to_cover is not None else "full"


POSITIONS: tuple[Position, ...] = (
    Position("aave_v3", 2, {"WETH": "5", "WBTC": "0.5"}, "USDC", "32000", "WETH", "10000", False),
    Position("aave_v3", 3, {"WBTC": "1"}, "WETH", "14", "WBTC", None, True),
    Position("aave_v2", 4, {"WETH": "5", "WBTC": "0.5"}, "USDC", "31000", "WETH", "8000", False),
    Position("aave_v2", 5, {"WBTC": "1"}, "WETH", "13.5", "WBTC", None, True),
)

#: Supplied by the liquidity provider on each market so that the borrows can be served.
LIQUIDITY: dict[str, str] = {"WETH": "100", "WBTC": "10", "USDC": "200000"}
#: Held by the liquidator (enough to repay every demo liquidation).
LIQUIDATOR_FUNDS: dict[str, str] = {"WETH": "50", "USDC": "50000"}


def run_demo_scenario(devchain: Devchain) -> list[dict[str, Any]]:
    """Open the :data:`POSITIONS`, crash BTC, liquidate them all; return one dict per liquidation.

    Each dict holds: ``market``, ``kind`` (partial/full), ``pool`` (the emitting proxy),
    ``tx_hash``, ``block_number``, ``user``, ``liquidator``, ``collateral_asset``, ``debt_asset``,
    ``collateral_symbol``, ``debt_symbol``, ``debt_to_cover`` (raw amount requested; ``2**256-1``
    for full), ``receive_a_token`` and ``health_factor_before`` (wad).

    :raises ToolkitError: if a position does not reach the health factor the scenario needs
        (a guard against changed parameters; the devchain is deterministic).
    """
    accounts = devchain.accounts
    provider = accounts[LIQUIDITY_PROVIDER_INDEX]
    liquidator = accounts[LIQUIDATOR_INDEX]
    markets = devchain.markets

    for market in markets.values():
        devchain.fund_and_supply(market, provider, LIQUIDITY)
    for symbol, amount in LIQUIDATOR_FUNDS.items():
        devchain.fund(liquidator, symbol, devchain.to_raw(symbol, amount))

    for pos in POSITIONS:
        borrower = accounts[pos.borrower_index]
        devchain.fund_and_supply(markets[pos.market], borrower, pos.collateral)
        debt = devchain.to_raw(pos.debt_symbol, pos.debt)
        markets[pos.market].borrow(borrower, pos.debt_symbol, debt)

    devchain.v3.set_price("WBTC", to_raw(BTC_USD_CRASH, USD_DECIMALS))
    devchain.v2.set_price("WBTC", usd_to_eth_answer(BTC_USD_CRASH, ETH_USD))

    liquidations = []
    for pos in POSITIONS:
        market = markets[pos.market]
        user = accounts[pos.borrower_index]
        hf = market.account_data(user).health_factor
        _check_health_factor(market, pos, hf)
        debt_to_cover = (
            MAX_UINT256 if pos.debt_to_cover is None
            else devchain.to_raw(pos.debt_symbol, pos.debt_to_cover)
        )
        receipt = market.liquidate(liquidator, pos.seize, pos.debt_symbol, user, debt_to_cover,
                                   pos.receive_a_token)
        liquidations.append({"kind": pos.kind, **market.liquidation_record(
            receipt, user, liquidator, pos.seize, pos.debt_symbol, debt_to_cover, pos.receive_a_token, hf)})
    devchain.mine(FINALITY_BLOCKS)
    return liquidations


def _check_health_factor(market: AaveMarket, pos: Position, hf: int) -> None:
    """v3 partial needs 0.95 < HF < 1 (50 % close factor), v3 full HF <= 0.95; v2 only HF < 1."""
    if hf >= HF_ONE:
        ok = False
    elif market.name == "aave_v3" and pos.kind == "partial":
        ok = hf > HF_CLOSE_FACTOR_THRESHOLD
    elif market.name == "aave_v3":
        ok = hf <= HF_CLOSE_FACTOR_THRESHOLD
    else:
        ok = True
    if not ok:
        raise ToolkitError(
            f"demo scenario: {market.name} {pos.kind} liquidation of account {pos.borrower_index} "
            f"found health factor {hf / 1e18:.4f}, outside the range the scenario needs"
        )
