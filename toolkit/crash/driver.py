"""Move every protocol's oracle on the devchain to one step of the real price path.

Scaling: none. The path's USD prices (quantized to 1e-8 USD, :data:`toolkit.crash.events.PRICE_QUANTUM`) are
written as each oracle's own answer for the devchain token carrying the asset (ETH -> WETH, BTC -> WBTC);
USDC stays at exactly 1 USD everywhere, as the devchain deploys it. The devchain's opening prices (ETH 3,000,
BTC 60,000) are replaced at the first step, before any position is opened.

How: by writing the word of storage each oracle keeps its answer in (:mod:`toolkit.crash.storage`), which is what
a new feed round or the owner's setter does, in one RPC call instead of a transaction; each contract's first write
is read back through its own getter. Per protocol (:meth:`OracleDriver.move`):

* Aave v3 (``AaveOracle``, USD, 8 decimals): ``price x 1e8`` into the asset's source
  (``AaveOracle.getSourceOfAsset``), a ``MockAggregator`` whose only state variable is ``int256 _latestAnswer``
  (slot 0; ``@aave/core-v3`` ``contracts/mocks/oracle/CLAggregators/MockAggregator.sol``).
* Aave v2 (``AaveOracle``, ETH, 18 decimals; WETH is exactly 1 ETH in the oracle itself): WBTC and USDC get
  ``usd / eth_usd`` ETH, rounded down (:func:`toolkit.devchain.assets.usd_to_eth_answer`), into their sources (the
  ``@aave/protocol-v2`` MockAggregator, the same layout). The ETH/USD feed the registry names for the devchain
  (``deployments/chains.toml``, the feed the Aave v2 adapter converts ETH prices with) gets ``eth_usd x 1e8``
  the same way. Aave itself never reads it.
* Venus (``SimplePriceOracle``, Compound unit ``price x 1e(36 - token decimals)``): its
  ``mapping(address => uint) prices`` (slot 0, keyed by the underlying; npm ``@venusprotocol/venus-protocol``
  ``contracts/test/SimplePriceOracle.sol``).
* Morpho Blue (``OracleMock`` per market, loan-token base units per collateral base unit x 1e36): exactly
  ``price x 1e(36 + 6 - collateral decimals)`` into ``uint256 price`` (slot 0, ``src/mocks/OracleMock.sol``).

An answer equal to the one in force is not written again. After a step's writes one block is mined, so the
step's prices are in force from that block on (and the state before a liquidation block, which the pull reads,
holds them) before the keeper looks at any position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from toolkit.crash.events import ASSET_TOKENS
from toolkit.crash.population import STABLE
from toolkit.crash.storage import mapping_slot, mine, write_word
from toolkit.devchain import Devchain
from toolkit.devchain.assets import TOKENS_BY_SYMBOL, USD_DECIMALS, USD_FEED, to_raw, usd_to_eth_answer
from toolkit.devchain.morpho import oracle_answer
from toolkit.devchain.venus import usd_price_mantissa
from toolkit.errors import ToolkitError
from toolkit.protocols import registry

#: Storage slot of ``MockAggregator._latestAnswer``, ``OracleMock.price`` and ``SimplePriceOracle.prices``.
ANSWER_SLOT = 0


class OracleDriver:
    """Writes the path's prices into the oracles of Aave v3, Aave v2 (+ its ETH/USD feed), Venus and Morpho."""

    def __init__(self, devchain: Devchain) -> None:
        if devchain.venus is None or devchain.morpho is None:
            raise ToolkitError("the crash replay needs a devchain with Venus and Morpho Blue deployed")
        self.devchain = devchain
        self.venus = devchain.venus
        self.morpho = devchain.morpho
        self.eth_usd_feed = registry().chain("devchain").eth_usd_feed
        self._sent: dict[tuple[str, str], int] = {}
        self._checked: set[tuple[str, str]] = set()
        self._dirty = False

    def _changed(self, oracle: str, key: str, answer: int) -> bool:
        if self._sent.get((oracle, key)) == answer:
            return False
        self._sent[(oracle, key)] = answer
        self._dirty = True
        return True

    def move(self, usd: Mapping[str, Decimal]) -> None:
        """Set every oracle to ``usd`` (USD per coin by asset, ``ETH`` and ``BTC``; module docstring) and mine one
        block when anything changed."""
        prices = {ASSET_TOKENS[asset]: price for asset, price in usd.items()}
        for symbol, price in prices.items():
            answer = to_raw(price, USD_DECIMALS)
            if self._changed("aave_v3", symbol, answer):
                self._aave(self.devchain.v3, symbol, answer)
        eth_usd = prices["WETH"]
        eth_quoted = {s: p for s, p in prices.items() if s != "WETH"} | {STABLE: Decimal(1)}
        for symbol, price in eth_quoted.items():
            answer = usd_to_eth_answer(price, eth_usd)
            if self._changed("aave_v2", symbol, answer):
                self._aave(self.devchain.v2, symbol, answer)
        eth_answer = to_raw(eth_usd, USD_DECIMALS)
        if self._changed("eth_usd", "WETH", eth_answer):
            self._write(self.eth_usd_feed, ANSWER_SLOT, eth_answer, lambda: self.devchain.chain.at(
                USD_FEED, self.eth_usd_feed).functions.latestAnswer().call())
        for symbol, price in prices.items():
            answer = usd_price_mantissa(str(price), TOKENS_BY_SYMBOL[symbol].decimals)
            if self._changed("venus", symbol, answer):
                underlying = self.devchain.token(symbol).address
                vtoken = self.venus.market(symbol).address
                self._write(self.venus.oracle.address, mapping_slot(underlying, ANSWER_SLOT), answer,
                            lambda: self.venus.oracle.functions.getUnderlyingPrice(vtoken).call(), key=symbol)
        stable = TOKENS_BY_SYMBOL[STABLE]
        for name, market in self.morpho.markets.items():
            collateral = TOKENS_BY_SYMBOL[market.spec.collateral]
            answer = oracle_answer(prices[collateral.symbol], Decimal(1), collateral.decimals, stable.decimals)
            if self._changed("morpho", name, answer):
                oracle = market.oracle
                self._write(oracle.address, ANSWER_SLOT, answer, lambda: oracle.functions.price().call())
        if self._dirty:
            mine(self.devchain.chain.w3)
            self._dirty = False

    def _aave(self, market: Any, symbol: str, answer: int) -> None:
        """Write ``answer`` into the source of ``symbol`` in ``market``'s AaveOracle."""
        asset = market.reserve(symbol).underlying
        oracle = market.oracle
        source = oracle.functions.getSourceOfAsset(asset).call()
        self._write(source, ANSWER_SLOT, answer, lambda: oracle.functions.getAssetPrice(asset).call())

    def _write(self, contract: str, slot: int, answer: int, read: Callable[[], int], key: str = "") -> None:
        """Write ``answer`` at ``slot`` of ``contract``; the first time (per contract and key), read it back."""
        write_word(self.devchain.chain.w3, contract, slot, answer)
        if (contract, key) not in self._checked:
            got = read()
            if got != answer:
                raise ToolkitError(f"the devchain oracle {contract} reads {got} after writing {answer}; is it the "
                                   "contract toolkit.devchain deployed?")
            self._checked.add((contract, key))
