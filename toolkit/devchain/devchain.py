"""The devchain: a fresh anvil node with real lending protocols deployed on it.

:meth:`Devchain.start` starts anvil with a fixed genesis timestamp and a fixed 12-second block
interval, then deploys, always in the same order: from anvil's account 0 the three tokens (WETH,
WBTC, USDC), the Aave v3 market and the Aave v2 market; from account 10 a Venus pool (the Compound
v2 design, :mod:`toolkit.devchain.venus`); from account 11 Morpho Blue with two markets
(:mod:`toolkit.devchain.morpho`); with ``aave_v36=True``, from account 20 an Aave v3.6 market
(:mod:`toolkit.devchain.aave_v36`, compiled from npm sources on first use); last, from account 16, an Aave v3
PoolAddressesProviderRegistry listing the Aave v3 (3.0) market (:mod:`toolkit.devchain.aave_registry`). Contract addresses
depend only on the deployer and its nonce, and every deployment happens before any scenario sends
transactions, so they are identical on every fresh start; with the fixed timestamps, block hashes and interest accrual are reproducible too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eth_typing import ChecksumAddress
from web3.contract import Contract
from web3.types import TxReceipt

from toolkit.devchain.aave_registry import AaveRegistry, deploy_aave_registry
from toolkit.devchain.aave_v2 import AaveV2Market, deploy_aave_v2
from toolkit.devchain.aave_v3 import deploy_aave_v3
from toolkit.devchain.aave_v36 import deploy_aave_v36
from toolkit.devchain.anvil import AnvilNode, start_anvil
from toolkit.devchain.assets import TOKEN_SPECS, TOKENS_BY_SYMBOL, deploy_tokens, to_raw
from toolkit.devchain.chain import Chain
from toolkit.devchain.market import AaveMarket
from toolkit.devchain.morpho import MorphoMarkets, deploy_morpho
from toolkit.devchain.venus import VenusMarket, deploy_venus
from toolkit.errors import UserInputError

#: Timestamp of the genesis block: 2025-01-01T00:00:00Z.
GENESIS_TIMESTAMP = 1_735_689_600
#: Seconds between consecutive blocks (mainnet slot time).
BLOCK_TIME = 12
#: anvil default account that deploys and administers everything (owner, ACL and pool admin).
DEPLOYER_INDEX = 0
#: anvil default account that receives reserve-factor interest and liquidation protocol fees.
TREASURY_INDEX = 9


#: anvil accounts (same mnemonic: indices 0-9 are anvil's defaults). 0 deploys Aave, 9 is the
#: treasury; protocol modules deploying other protocols use their own deployer index (10 and up;
#: 20-27 belong to Aave v3.6 and its version scenario),
#: so every protocol's addresses stay the same whatever else is deployed and in which order.
ACCOUNTS = 28


class Devchain:
    """A running local chain with Aave v3 (:attr:`v3`) and Aave v2 (:attr:`v2`); stop it when done.

    Use :meth:`start`, then either ``with`` or :meth:`stop`::

        with Devchain.start() as devchain:
            run_demo_scenario(devchain)
            print(devchain.url)
    """

    def __init__(self, node: AnvilNode, chain: Chain, tokens: dict[str, Contract],
                 v3: AaveMarket, v2: AaveV2Market) -> None:
        self.node = node
        self.chain = chain
        self.tokens = tokens
        self.v3 = v3
        self.v2 = v2
        #: The Venus pool and the Morpho Blue markets, deployed by :meth:`start` after Aave.
        self.venus: VenusMarket | None = None
        self.morpho: MorphoMarkets | None = None
        #: The Aave v3.6 market, deployed by :meth:`start` when asked (``aave_v36=True``).
        self.v36: AaveMarket | None = None
        #: The Aave v3 pool addresses provider registry listing :attr:`v3`, deployed last.
        self.aave_registry: AaveRegistry | None = None
        self._feed_states: dict[str, dict[str, Any]] = {}

    @classmethod
    def start(cls, port: int | None = None, anvil_args: list[str] | None = None, *,
              aave_v36: bool = False, genesis_timestamp: int = GENESIS_TIMESTAMP) -> Devchain:
        """Start anvil (on ``port``, or a free one) and deploy the tokens, Aave v3, Aave v2, Venus and Morpho Blue.

        ``anvil_args``: further anvil flags, e.g. ``["--prune-history", "1"]`` for a node that keeps
        no historical state (tests of the "archive node needed" path). ``aave_v36``: also deploy the
        Aave v3.6 market (:attr:`v36`) after everything else; it compiles npm aave-v3-origin on the first
        use on a machine (about a minute, then cached). ``genesis_timestamp``: Unix time of the genesis
        block (a crash replay starts its chain shortly before its price path).
        """
        node = start_anvil(port=port, extra_args=["--timestamp", str(genesis_timestamp), "--accounts", str(ACCOUNTS),
                                                  *(anvil_args or [])])
        try:
            chain = Chain(node.url, deployer_index=DEPLOYER_INDEX)
            chain.set_block_timestamp_interval(BLOCK_TIME)
            tokens = deploy_tokens(chain)
            treasury = chain.accounts[TREASURY_INDEX]
            v3 = deploy_aave_v3(chain, tokens, treasury)
            v2 = deploy_aave_v2(chain, tokens, treasury)
            devchain = cls(node, chain, tokens, v3, v2)
            devchain.venus = deploy_venus(devchain)
            devchain.morpho = deploy_morpho(devchain)
            if aave_v36:
                devchain.v36 = deploy_aave_v36(devchain)
            devchain.aave_registry = deploy_aave_registry(devchain)
        except BaseException:
            node.stop()
            raise
        return devchain

    def stop(self) -> None:
        """Stop the anvil node (by PID)."""
        self.node.stop()

    def __enter__(self) -> Devchain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- identity -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """JSON-RPC URL of the node, ``http://127.0.0.1:<port>``."""
        return self.node.url

    @property
    def chain_id(self) -> int:
        return self.node.chain_id

    @property
    def markets(self) -> dict[str, AaveMarket]:
        """The markets by name: ``{"aave_v3": ..., "aave_v2": ...}``."""
        return {self.v3.name: self.v3, self.v2.name: self.v2}

    @property
    def accounts(self) -> list[ChecksumAddress]:
        """anvil's default (unlocked) accounts; index 0 is the deployer, 9 the treasury."""
        return self.chain.accounts

    def addresses(self) -> dict[str, Any]:
        """Every deployed address, JSON-able: tokens, libraries and one entry per market."""
        return {
            "chainId": self.chain_id,
            "deployer": self.chain.deployer,
            "tokens": {
                spec.symbol: {"address": self.tokens[spec.symbol].address, "decimals": spec.decimals}
                for spec in TOKEN_SPECS
            },
            "libraries": self.chain.libraries(),
            **{name: market.addresses() for name, market in self.markets.items()},
            **({"venus": self.venus.addresses()} if self.venus else {}),
            **({"morpho_blue": self.morpho.addresses()} if self.morpho else {}),
            **({self.v36.name: self.v36.addresses()} if self.v36 else {}),
            **({"aave_registry": self.aave_registry.address} if self.aave_registry else {}),
        }

    # -- tokens and node control ----------------------------------------------------------------

    def token(self, symbol: str) -> Contract:
        """The MintableERC20 deployed for ``symbol``."""
        try:
            return self.tokens[symbol]
        except KeyError:
            known = ", ".join(self.tokens)
            raise UserInputError(f"unknown token {symbol!r}; known: {known}") from None

    def fund_and_supply(self, market: Any, account: str, amounts: dict[str, Decimal | int | str]) -> None:
        """Mint each ``{symbol: human amount}`` to ``account`` and supply it to ``market``
        (any devchain market with ``supply(user, symbol, raw)``: Aave, Venus)."""
        for symbol, amount in amounts.items():
            raw = self.to_raw(symbol, amount)
            self.fund(account, symbol, raw)
            market.supply(account, symbol, raw)

    def to_raw(self, symbol: str, amount: Decimal | int | str) -> int:
        """Human amount of ``symbol`` (``"1.5"``) -> exact raw integer (``1.5 * 10**decimals``)."""
        self.token(symbol)
        return to_raw(amount, TOKENS_BY_SYMBOL[symbol].decimals)

    def fund(self, account: str, symbol: str, amount: int) -> TxReceipt:
        """Mint ``amount`` raw units of ``symbol`` to ``account`` (MintableERC20 ``mint``)."""
        return self.chain.transact(self.token(symbol).functions.mint(account, amount), account)

    def balance(self, account: str, symbol: str) -> int:
        """Token balance of ``account`` (raw units)."""
        return self.token(symbol).functions.balanceOf(account).call()

    def mine(self, blocks: int = 1) -> int:
        """Mine ``blocks`` empty blocks; return the head block number."""
        return self.chain.mine(blocks)

    def snapshot(self) -> str:
        """``evm_snapshot``: returns an id for :meth:`revert`.

        Also remembers the markets' price-feed histories, which :meth:`revert` restores.
        """
        snapshot_id = self.chain.snapshot()
        self._feed_states[snapshot_id] = {name: m.feed_state() for name, m in self._aave_markets().items()}
        return snapshot_id

    def revert(self, snapshot_id: str) -> None:
        """``evm_revert`` to a snapshot taken with :meth:`snapshot` (usable once)."""
        self.chain.revert(snapshot_id)
        for name, state in self._feed_states.pop(snapshot_id).items():
            self._aave_markets()[name].restore_feed_state(state)

    def _aave_markets(self) -> dict[str, AaveMarket]:
        """:attr:`markets` and the v3.6 market when deployed."""
        return {**self.markets, **({self.v36.name: self.v36} if self.v36 else {})}
