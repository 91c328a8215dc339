"""Tokens and price feeds shared by the Aave v3 and v2 markets of the devchain.

* Tokens: one ``MintableERC20`` per asset (``@aave/core-v3``
  ``contracts/mocks/tokens/MintableERC20.sol``; anyone may ``mint(account, value)``, L80-L83).
  Both markets list the *same* token contracts, as Aave v2 and v3 share WETH/WBTC/USDC on Ethereum.
* Feeds: ``MockAggregator`` answers ``latestAnswer()`` with the value given to its constructor and
  has **no setter**. To move a price, deploy a new MockAggregator with the new answer and point the
  market's ``AaveOracle.setAssetSources`` at it
  (see :meth:`toolkit.devchain.market.AaveMarket.set_price`).

  - USD feeds (8 decimals), like Chainlink ``X/USD`` feeds: ``@aave/core-v3``
    ``contracts/mocks/oracle/CLAggregators/MockAggregator.sol`` (``decimals()`` returns 8, L22-L24).
  - ETH feeds (18 decimals, Aave v2 Ethereum quotes prices in ETH with unit 1e18):
    ``@aave/protocol-v2`` ``contracts/mocks/oracle/CLAggregators/MockAggregator.sol``
    (no ``decimals()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from web3.contract import Contract

from toolkit.devchain.artifacts import ArtifactRef
from toolkit.devchain.chain import Chain
from toolkit.errors import UserInputError

TOKEN = ArtifactRef("@aave/core-v3", "contracts/mocks/tokens/MintableERC20.sol")
USD_FEED = ArtifactRef("@aave/core-v3", "contracts/mocks/oracle/CLAggregators/MockAggregator.sol")
ETH_FEED = ArtifactRef("@aave/protocol-v2", "contracts/mocks/oracle/CLAggregators/MockAggregator.sol")

#: Decimals of a USD price (Chainlink X/USD feeds, Aave v3 ``BASE_CURRENCY_UNIT`` = 1e8).
USD_DECIMALS = 8
#: Decimals of an ETH price (Aave v2 Ethereum oracle quote unit 1e18).
ETH_DECIMALS = 18
#: The largest uint256: ``liquidationCall(..., debtToCover=MAX_UINT256, ...)`` covers as much as the
#: close factor allows.
MAX_UINT256 = 2**256 - 1


class Quote(Enum):
    """Quote currency of a price feed and the number of decimals of its answer."""

    USD = USD_DECIMALS
    ETH = ETH_DECIMALS


@dataclass(frozen=True)
class TokenSpec:
    """An ERC-20 the devchain deploys, with its starting USD price (human units, e.g. 3000)."""

    symbol: str
    name: str
    decimals: int
    usd_price: Decimal


#: Deployed in this order (the order fixes their addresses). Starting prices are round numbers.
TOKEN_SPECS: tuple[TokenSpec, ...] = (
    TokenSpec("WETH", "Wrapped Ether", 18, Decimal(3000)),
    TokenSpec("WBTC", "Wrapped BTC", 8, Decimal(60000)),
    TokenSpec("USDC", "USD Coin", 6, Decimal(1)),
)

#: The same specs by symbol.
TOKENS_BY_SYMBOL: dict[str, TokenSpec] = {spec.symbol: spec for spec in TOKEN_SPECS}


def to_raw(amount: Decimal | int | str, decimals: int) -> int:
    """Convert a human amount (``"1.5"``) to an exact integer in units of ``10**-decimals``.

    :raises UserInputError: when the amount has more fractional digits than ``decimals``.
    """
    scaled = Decimal(str(amount)) * (Decimal(10) ** decimals)
    if scaled != scaled.to_integral_value():
        raise UserInputError(f"{amount} has more than {decimals} decimals")
    return int(scaled)


def usd_to_eth_answer(usd_price: Decimal, eth_usd_price: Decimal) -> int:
    """ETH price (18 decimals, rounded down) of an asset worth ``usd_price`` USD.

    :param eth_usd_price: USD value of 1 ETH (human units, e.g. ``Decimal(3000)``).
    """
    return to_raw(usd_price, ETH_DECIMALS) * 10**ETH_DECIMALS // to_raw(eth_usd_price, ETH_DECIMALS)


def deploy_tokens(chain: Chain) -> dict[str, Contract]:
    """Deploy one MintableERC20 per :data:`TOKEN_SPECS` entry; return them by symbol."""
    return {
        spec.symbol: chain.deploy(TOKEN, spec.name, spec.symbol, spec.decimals)
        for spec in TOKEN_SPECS
    }


def deploy_feed(chain: Chain, answer: int, quote: Quote) -> Contract:
    """Deploy a MockAggregator answering ``answer`` (raw integer, ``quote.value`` decimals)."""
    if answer <= 0:
        raise UserInputError(f"price answer must be positive, got {answer}")
    return chain.deploy(USD_FEED if quote is Quote.USD else ETH_FEED, answer)
