"""Move every protocol's oracle on the devchain to one step of the real price path.

Scaling: none. The path's USD prices (quantized to 1e-8 USD, :data:`toolkit.crash.events.PRICE_QUANTUM`) are
written as each oracle's own answer for the devchain token carrying the asset (ETH -> WETH, BTC -> WBTC);
USDC stays at exactly 1 USD everywhere, as the devchain deploys it. The devchain's opening prices (ETH 3,000,
BTC 60,000) are replaced at the first step, before any position is opened. Per protocol
(:meth:`OracleDriver.move`):

* Aave v3 (``AaveOracle``, USD, 8 decimals): ``price x 1e8`` exactly. A ``MockAggregator`` has no setter, so
  :meth:`toolkit.devchain.market.AaveMarket.set_price` deploys a new one and calls
  ``AaveOracle.setAssetSources`` (the real owner-only path of a feed change).
* Aave v2 (``AaveOracle``, ETH, 18 decimals; WETH is exactly 1 ETH in the oracle itself): WBTC and USDC get
  ``usd / eth_usd`` ETH, rounded down (:func:`toolkit.devchain.assets.usd_to_eth_answer`), through
  ``setAssetSources`` as on v3. The ETH/USD feed the registry names for the devchain
  (``deployments/chains.toml``, the feed the Aave v2 adapter converts ETH prices with) is a
  ``MockAggregator`` at a fixed address with no setter and no owner; its only storage slot (slot 0,
  ``int256 _latestAnswer``) is written with ``anvil_setStorageAt`` to ``eth_usd x 1e8`` and read back through
  ``latestAnswer()``. Aave itself never reads it.
* Venus (``SimplePriceOracle``, Compound unit ``price x 1e(36 - token decimals)``): exactly, with
  ``setUnderlyingPrice``.
* Morpho Blue (``OracleMock`` per market, loan-token base units per collateral base unit x 1e36): exactly
  ``price x 1e(36 + 6 - collateral decimals)``, with ``setPrice``.

An answer equal to the one in force is not sent again. Every write is a real transaction mined by anvil
(one block each, 12 seconds apart), so the oracles of a step are all in force from the step's last price
block on, before the keeper looks at any position.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from web3.types import RPCEndpoint

from toolkit.crash.events import ASSET_TOKENS
from toolkit.crash.population import STABLE
from toolkit.devchain import Devchain
from toolkit.devchain.assets import TOKENS_BY_SYMBOL, USD_DECIMALS, USD_FEED, to_raw, usd_to_eth_answer
from toolkit.devchain.morpho import oracle_answer
from toolkit.devchain.venus import usd_price_mantissa
from toolkit.errors import ToolkitError
from toolkit.protocols import registry

#: Storage slot of ``MockAggregator._latestAnswer`` (its only state variable; ``@aave/core-v3``
#: ``contracts/mocks/oracle/CLAggregators/MockAggregator.sol``).
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

    def _changed(self, oracle: str, key: str, answer: int) -> bool:
        if self._sent.get((oracle, key)) == answer:
            return False
        self._sent[(oracle, key)] = answer
        return True

    def move(self, usd: Mapping[str, Decimal]) -> None:
        """Set every oracle to ``usd`` (USD per coin by asset, ``ETH`` and ``BTC``; module docstring)."""
        prices = {ASSET_TOKENS[asset]: price for asset, price in usd.items()}
        for symbol, price in prices.items():
            answer = to_raw(price, USD_DECIMALS)
            if self._changed("aave_v3", symbol, answer):
                self.devchain.v3.set_price(symbol, answer)
        eth_usd = prices["WETH"]
        eth_quoted = {s: p for s, p in prices.items() if s != "WETH"} | {STABLE: Decimal(1)}
        for symbol, price in eth_quoted.items():
            answer = usd_to_eth_answer(price, eth_usd)
            if self._changed("aave_v2", symbol, answer):
                self.devchain.v2.set_price(symbol, answer)
        eth_answer = to_raw(eth_usd, USD_DECIMALS)
        if self._changed("eth_usd", "WETH", eth_answer):
            self._write_eth_usd(eth_answer)
        for symbol, price in prices.items():
            answer = usd_price_mantissa(str(price), TOKENS_BY_SYMBOL[symbol].decimals)
            if self._changed("venus", symbol, answer):
                self.venus.set_price(symbol, answer)
        stable = TOKENS_BY_SYMBOL[STABLE]
        for name, market in self.morpho.markets.items():
            collateral = TOKENS_BY_SYMBOL[market.spec.collateral]
            answer = oracle_answer(prices[collateral.symbol], Decimal(1), collateral.decimals, stable.decimals)
            if self._changed("morpho", name, answer):
                self.morpho.set_price(name, answer)

    def _write_eth_usd(self, answer: int) -> None:
        """Write ``answer`` into the registry's ETH/USD MockAggregator and check that it reads back."""
        chain = self.devchain.chain
        word = "0x" + answer.to_bytes(32, "big").hex()
        chain.w3.manager.request_blocking(RPCEndpoint("anvil_setStorageAt"),
                                          [self.eth_usd_feed, hex(ANSWER_SLOT), word])
        read = chain.at(USD_FEED, self.eth_usd_feed).functions.latestAnswer().call()
        if read != answer:
            raise ToolkitError(f"the devchain ETH/USD feed {self.eth_usd_feed} reads {read} after writing {answer}; "
                               "is the registry's devchain feed the MockAggregator toolkit.devchain deployed?")
