"""Drive the real oracles of a forked chain along a crash path, by setting feed storage.

Every protocol is driven the same way: the contract its oracle reads a price from is given the runtime code of
``contracts/PathOracle.sol`` (``anvil_setCode``), and its answer is written into storage
(:mod:`toolkit.crash.storage`). No admin is impersonated: a feed's owner differs per deployment (Aave's ACL pool
admin is a governance executor on mainnet, Compound's oracle is immutable), while replacing the feed's code works
for any feed the protocol trusts and leaves the protocol's own code untouched. Per protocol:

* Aave v2 / v3 / Spark: each reserve's source, ``AaveOracle.getSourceOfAsset(asset)`` of the addresses provider's
  oracle (a reserve without a source, priced by the fallback oracle, is left as it is); Aave v2's ETH-quoted
  sources get the asset's price in ETH; the registry's ETH/USD feed of the chain too (the pulls convert v2 prices
  with it).
* Compound v2 / Venus: ``Comptroller.oracle()``; ``getUnderlyingPrice(cToken)`` then answers per cToken.
* Morpho Blue: each position's market oracle (``idToMarketParams(id).oracle``); ``price()``.

Prices: every answer at a step is its answer at the fork block times the path's move of the asset since the
path's first step (:func:`asset_class`: assets named like ETH follow the ETH path, like BTC the BTC path, stable
coins stay, any other asset follows the replayed asset), divided by the quote currency's move for ETH-quoted
feeds and for Morpho (loan token). Answers are integers, rounded down. One block is mined after each step's
writes, as on the devchain (:mod:`toolkit.crash.driver`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from toolkit.abi import load_abi
from toolkit.compare.lending_levels import STABLES
from toolkit.crash.storage import mapping_slot, mine, write_word
from toolkit.devchain.solc import compile_contract
from toolkit.protocols.aave import ERC20, ETH_USD_FEED, POOL_V2, POOL_V3, PROVIDER_V2, PROVIDER_V3
from toolkit.protocols.compound_v2 import COMPTROLLER, PRICE_ORACLE
from toolkit.protocols.morpho_blue import MORPHO, ORACLE
from toolkit.protocols.registry import Deployment
from toolkit.snapshot.aave import POSITIONS_V2, POSITIONS_V3

SOURCE = Path(__file__).resolve().parent / "contracts" / "PathOracle.sol"
#: ``AaveOracle.getSourceOfAsset`` (@aave/core-v3 ``contracts/misc/AaveOracle.sol``; same in v2).
SOURCE_OF_ASSET = load_abi("aave-v3/AaveOracleSources.json").fn("getSourceOfAsset")
#: PathOracle storage: answer, decimals, per-cToken prices.
ANSWER_SLOT, DECIMALS_SLOT, PRICES_SLOT = 0, 1, 2
ZERO = "0x" + "0" * 40


def asset_class(symbol: str | None, replayed: str) -> str | None:
    """``ETH``, ``BTC``, the replayed asset for any other volatile asset, or ``None`` for stable coins."""
    name = (symbol or "").upper()
    if name in STABLES:
        return None
    if "BTC" in name:
        return "BTC"
    if "ETH" in name:
        return "ETH"
    return replayed


@dataclass
class Feed:
    """One contract the replay answers for: its address, the answer at the fork block, how to move it (asset
    class, quote class), and where the answer goes (``slot`` in PathOracle storage)."""

    address: str
    original: int
    asset: str | None
    quote: str | None
    slot: int
    decimals: int = 0


def view_call(w3: Web3, to: str, fn: Any, *args: Any, block: int | str = "latest") -> tuple[Any, ...]:
    """``fn`` (a :class:`toolkit.abi.FunctionSpec`) of ``to`` at ``block``, decoded."""
    data = w3.eth.call({"to": Web3.to_checksum_address(to), "data": "0x" + fn.encode(*args).hex()}, block)
    return fn.decode_output(data)


class ForkOracles:
    """The feeds of the replayed deployments on a fork (module docstring)."""

    def __init__(self, w3: Web3, replayed: str) -> None:
        self.w3, self.replayed = w3, replayed
        self.feeds: list[Feed] = []
        self._code = compile_contract(SOURCE, "PathOracle", evm_version="paris").deployed_bytecode

    def add_aave(self, deployment: Deployment, block: int) -> None:
        v3 = int(deployment.params["aave_version"]) >= 3
        pool = deployment.address("pool")
        provider = view_call(self.w3, pool, (POOL_V3 if v3 else POOL_V2).fn("ADDRESSES_PROVIDER" if v3 else
                                                                        "getAddressesProvider"), block=block)[0]
        oracle = view_call(self.w3, provider, (PROVIDER_V3 if v3 else PROVIDER_V2).fn("getPriceOracle"), block=block)[0]
        reserves = view_call(self.w3, pool, (POSITIONS_V3 if v3 else POSITIONS_V2).fn("getReservesList"),
                             block=block)[0]
        quote = None if v3 else "ETH"
        for asset in reserves:
            source = view_call(self.w3, oracle, SOURCE_OF_ASSET, asset, block=block)[0]
            if source.lower() == ZERO:
                continue
            symbol = view_call(self.w3, asset, ERC20.fn("symbol"), block=block)[0]
            klass = asset_class(symbol, self.replayed)
            if quote == "ETH" and klass == "ETH" and "WETH" == symbol.upper():
                continue  # Aave v2 prices WETH at exactly 1 ETH itself
            self._feed(source, klass, quote, block)
        feed = deployment.chain.eth_usd_feed
        if not v3 and feed:
            self._feed(feed, "ETH", None, block)

    def add_compound(self, deployment: Deployment, block: int, ctokens: Sequence[str], symbols: Mapping[str, str]
                     ) -> None:
        oracle = view_call(self.w3, deployment.address("comptroller"), COMPTROLLER.fn("oracle"), block=block)[0]
        for ctoken in ctokens:
            answer = view_call(self.w3, oracle, PRICE_ORACLE.fn("getUnderlyingPrice"), ctoken, block=block)[0]
            self.feeds.append(Feed(oracle.lower(), answer, asset_class(symbols.get(ctoken), self.replayed), None,
                                   mapping_slot(ctoken.lower(), PRICES_SLOT)))

    def add_morpho(self, deployment: Deployment, block: int, markets: Mapping[str, tuple[str, str]]) -> None:
        """``markets``: market id -> (collateral symbol, loan symbol)."""
        for market, (collateral, loan) in markets.items():
            params = view_call(self.w3, deployment.address("morpho"), MORPHO.fn("idToMarketParams"),
                           bytes.fromhex(market[2:]), block=block)
            oracle = params[2].lower()
            answer = view_call(self.w3, oracle, ORACLE.fn("price"), block=block)[0]
            self.feeds.append(Feed(oracle, answer, asset_class(collateral, self.replayed),
                                   asset_class(loan, self.replayed), ANSWER_SLOT))

    def _feed(self, address: str, asset: str | None, quote: str | None, block: int) -> None:
        """A Chainlink-style source: its ``latestAnswer`` and ``decimals`` (a feed without ``decimals``, like the
        ``@aave/protocol-v2`` MockAggregator, keeps the quote's: 18 for ETH, 8 for USD)."""
        answer = view_call(self.w3, address, ETH_USD_FEED.fn("latestAnswer"), block=block)[0]
        try:
            decimals = view_call(self.w3, address, ETH_USD_FEED.fn("decimals"), block=block)[0]
        except ContractLogicError:
            decimals = 18 if quote == "ETH" else 8
        self.feeds.append(Feed(address.lower(), answer, asset, quote, ANSWER_SLOT, decimals))

    def install(self) -> None:
        """Give every feed contract PathOracle's code with its answers at the fork block (checked read back)."""
        for address in dict.fromkeys(f.address for f in self.feeds):
            self.w3.manager.request_blocking(RPCEndpoint("anvil_setCode"),
                                             [Web3.to_checksum_address(address), self._code])
        for feed in self.feeds:
            if feed.slot == ANSWER_SLOT:
                write_word(self.w3, feed.address, DECIMALS_SLOT, feed.decimals)
            write_word(self.w3, feed.address, feed.slot, feed.original)
        for feed in self.feeds:
            if feed.slot == ANSWER_SLOT and view_call(self.w3, feed.address, ORACLE.fn("price"))[0] != feed.original:
                raise RuntimeError(f"the fork's feed {feed.address} does not answer what was written")

    def move(self, moves: Mapping[str, Fraction]) -> None:
        """Write every answer for the path's moves since its first step (``ETH``, ``BTC``: price / first price)
        and mine one block."""
        for feed in self.feeds:
            factor = moves.get(feed.asset, Fraction(1)) if feed.asset else Fraction(1)
            if feed.quote:
                factor /= moves.get(feed.quote, Fraction(1))
            write_word(self.w3, feed.address, feed.slot, int(feed.original * factor))
        mine(self.w3)

