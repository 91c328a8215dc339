"""Blocks built by hand on the devchain (automine off): an oracle update and a liquidation in the same
block, liquidations alone in their block, two liquidations of one borrower in one block, on Aave v3,
Aave v2, Venus and Morpho Blue. And the expected state before each transaction, read from the
contracts' own view functions: the transactions before it are mined alone into a copy of the block (same
number, same timestamp) on an ``evm_snapshot`` that is then reverted, and the views are read there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from web3.contract.contract import ContractFunction
from web3.types import RPCEndpoint

from toolkit.devchain import Devchain
from toolkit.devchain.assets import MAX_UINT256, USD_DECIMALS, Quote, deploy_feed, to_raw
from toolkit.devchain.morpho import oracle_answer
from toolkit.devchain.venus import usd_price_mantissa

T = TypeVar("T")
#: Gas of every hand-sent transaction (automine is off, so nothing is estimated).
GAS = hex(3_000_000)
#: anvil accounts: the liquidator, and the borrowers (one per role; each market has its own positions).
LIQUIDATOR, PROVIDER = 12, 19
SAME, ALONE, TRACED, TWICE = 13, 14, 15, 16

#: A transaction to send: (sender, function).
Tx = tuple[str, ContractFunction]


@dataclass
class Liquidation:
    """One liquidation of the scenario: its protocol, role, borrower, block and transaction hash."""

    protocol: str
    role: str
    borrower: str
    block: int
    tx_hash: str
    #: Views of the state right before it (the earlier transactions of the block applied) ...
    before_tx: dict[str, Any] = field(default_factory=dict)
    #: ... and at the start of its block (nothing applied), both in the block's context.
    block_start: dict[str, Any] = field(default_factory=dict)


class HandMiner:
    """Mines blocks of raw transactions at chosen timestamps, and reads views on copies of them."""

    def __init__(self, devchain: Devchain) -> None:
        self.w3 = devchain.chain.w3
        self.request = self.w3.manager.request_blocking

    def send(self, sender: str, fn: ContractFunction) -> str:
        data = self.w3.eth.contract(abi=fn.contract_abi).encode_abi(fn.abi_element_identifier, args=fn.args)
        return self.request(RPCEndpoint("eth_sendTransaction"),
                            [{"from": sender, "to": fn.address, "data": data, "gas": GAS}])

    def next_timestamp(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"] + 12

    def mine(self, txs: list[Tx], timestamp: int) -> tuple[int, list[str]]:
        """Mine ``txs`` into one block at ``timestamp``; every one must succeed."""
        self.request(RPCEndpoint("evm_setAutomine"), [False])
        try:
            hashes = [self.send(sender, fn) for sender, fn in txs]
            self.request(RPCEndpoint("evm_setNextBlockTimestamp"), [timestamp])
            self.request(RPCEndpoint("evm_mine"), [])
        finally:
            self.request(RPCEndpoint("evm_setAutomine"), [True])
        receipts = [self.w3.eth.get_transaction_receipt(h) for h in hashes]
        failed = [r["transactionIndex"] for r in receipts if r["status"] != 1]
        assert not failed, f"transactions {failed} of the hand-mined block reverted"
        assert len({r["blockNumber"] for r in receipts}) <= 1
        return self.w3.eth.block_number, [h if isinstance(h, str) else h.to_0x_hex() for h in hashes]

    def views_after(self, txs: list[Tx], timestamp: int, read: Callable[[int], T]) -> T:
        """``read(block)`` on a copy of the next block holding only ``txs`` (reverted afterwards)."""
        snapshot = self.request(RPCEndpoint("evm_snapshot"), [])
        try:
            block, _ = self.mine(txs, timestamp)
            return read(block)
        finally:
            assert self.request(RPCEndpoint("evm_revert"), [snapshot])

    def block(self, txs: list[Tx], liquidations: dict[int, tuple[str, str, str]],
              read: dict[str, Callable[[str, int], dict[str, Any]]]) -> list[Liquidation]:
        """Mine ``txs`` into one block; for each index in ``liquidations`` ((protocol, role, borrower)),
        record the views before it and at the block start (``read[protocol](borrower, block)``)."""
        timestamp = self.next_timestamp()
        out = []
        for index, (protocol, role, borrower) in liquidations.items():
            reader = read[protocol]
            before = self.views_after(txs[:index], timestamp, lambda b: reader(borrower, b))
            start = self.views_after([], timestamp, lambda b: reader(borrower, b))
            out.append(Liquidation(protocol, role, borrower, 0, "", before, start))
        number, hashes = self.mine(txs, timestamp)
        for item, index in zip(out, liquidations):
            item.block, item.tx_hash = number, hashes[index]
        return out


def build(devchain: Devchain) -> list[Liquidation]:
    """Open the positions, then mine the hand-built blocks; return every liquidation with its expected views."""
    miner = HandMiner(devchain)
    accounts = devchain.accounts
    liquidator, provider = accounts[LIQUIDATOR], accounts[PROVIDER]
    v3, v2, venus, morpho = devchain.v3, devchain.v2, devchain.venus, devchain.morpho
    assert venus is not None and morpho is not None
    deployer = devchain.chain.deployer

    # -- liquidity and the liquidator's funds (automine on)
    devchain.fund_and_supply(v3, provider, {"WETH": "100"})
    devchain.fund_and_supply(v2, provider, {"WETH": "100"})
    devchain.fund_and_supply(venus, provider, {"WETH": "100"})
    morpho.supply(provider, "WETH/USDC", _funded(devchain, provider, "USDC", "100000"))
    devchain.fund(liquidator, "WETH", devchain.to_raw("WETH", "200"))
    devchain.fund(liquidator, "USDC", devchain.to_raw("USDC", "100000"))
    for market in (v3, v2):
        market.approve(liquidator, "WETH", MAX_UINT256)
    devchain.chain.transact(devchain.token("WETH").functions.approve(venus.market("WETH").address, MAX_UINT256),
                            liquidator)
    devchain.chain.transact(devchain.token("USDC").functions.approve(morpho.morpho.address, MAX_UINT256), liquidator)

    # -- positions: Aave v3 and v2 (1 WBTC -> WETH), Venus (1 WBTC -> WETH), Morpho (WETH -> USDC)
    for index, debt in ((SAME, "14"), (ALONE, "13"), (TRACED, "13"), (TWICE, "13.5")):
        devchain.fund_and_supply(v3, accounts[index], {"WBTC": "1"})
        v3.borrow(accounts[index], "WETH", devchain.to_raw("WETH", debt))
    for index, debt in ((SAME, "13.5"), (ALONE, "13")):
        devchain.fund_and_supply(v2, accounts[index], {"WBTC": "1"})
        v2.borrow(accounts[index], "WETH", devchain.to_raw("WETH", debt))
    for index, debt in ((SAME, "14"), (ALONE, "14.5")):
        devchain.fund_and_supply(venus, accounts[index], {"WBTC": "1"})
        venus.enter_markets(accounts[index], ["WBTC"])
        venus.borrow(accounts[index], "WETH", devchain.to_raw("WETH", debt))
    for index, collateral, debt in ((SAME, "10", "24000"), (ALONE, "5", "12500")):
        morpho.supply_collateral(accounts[index], "WETH/USDC", _funded(devchain, accounts[index], "WETH", collateral))
        morpho.borrow(accounts[index], "WETH/USDC", devchain.to_raw("USDC", debt))
    devchain.mine(5)

    # -- the new prices' feeds, deployed ahead (Aave's MockAggregator has no setter)
    v3_feed = deploy_feed(devchain.chain, to_raw(Decimal(48000), USD_DECIMALS), Quote.USD)
    v2_feed = deploy_feed(devchain.chain, 16 * 10**18, Quote.ETH)
    wbtc3, weth3 = v3.reserve("WBTC").underlying, v3.reserve("WETH").underlying
    wbtc2, weth2 = v2.reserve("WBTC").underlying, v2.reserve("WETH").underlying
    eth_market = morpho.market("WETH/USDC")
    crash_eth = oracle_answer(Decimal(2700), Decimal(1), 18, 6)

    def aave_liquidation(market: Any, wbtc: str, weth: str, index: int, amount: int = MAX_UINT256) -> Tx:
        return liquidator, market.pool.functions.liquidationCall(wbtc, weth, accounts[index], amount, False)

    def venus_liquidation(index: int) -> Tx:
        fn = venus.market("WETH").vtoken.functions.liquidateBorrow(accounts[index], devchain.to_raw("WETH", "5"),
                                                                    venus.market("WBTC").address)
        return liquidator, fn

    def morpho_liquidation(index: int, seized: int = 0, shares: int = 0) -> Tx:
        return liquidator, morpho.morpho.functions.liquidate(eth_market.call_arg, accounts[index], seized, shares, b"")

    read = {"aave-v3": lambda user, block: _aave_views(v3, user, block),
            "aave-v2": lambda user, block: _aave_views(v2, user, block),
            "venus": lambda user, block: _venus_views(venus, user, block),
            "morpho-blue": lambda user, block: _morpho_views(morpho, user, block)}
    out: list[Liquidation] = []
    # Aave v3: the WBTC feed moves from $60,000 to $48,000 in the liquidation's block
    out += miner.block([(deployer, v3.oracle.functions.setAssetSources([wbtc3], [v3_feed.address])),
                        aave_liquidation(v3, wbtc3, weth3, SAME)],
                       {1: ("aave-v3", "same_block", accounts[SAME])}, read)
    out += miner.block([aave_liquidation(v3, wbtc3, weth3, ALONE)], {0: ("aave-v3", "alone", accounts[ALONE])}, read)
    out += miner.block([(deployer, devchain.token("WETH").functions.mint(accounts[PROVIDER], 1)),
                        aave_liquidation(v3, wbtc3, weth3, TRACED)],
                       {1: ("aave-v3", "after_unrelated", accounts[TRACED])}, read)
    out += miner.block([aave_liquidation(v3, wbtc3, weth3, TWICE, devchain.to_raw("WETH", "3")),
                        aave_liquidation(v3, wbtc3, weth3, TWICE)],
                       {0: ("aave-v3", "first_of_two", accounts[TWICE]), 1: ("aave-v3", "second_of_two", accounts[TWICE])},
                       read)
    # Aave v2: WBTC from 20 ETH to 16 ETH
    out += miner.block([(deployer, v2.oracle.functions.setAssetSources([wbtc2], [v2_feed.address])),
                        aave_liquidation(v2, wbtc2, weth2, SAME)],
                       {1: ("aave-v2", "same_block", accounts[SAME])}, read)
    out += miner.block([aave_liquidation(v2, wbtc2, weth2, ALONE)], {0: ("aave-v2", "alone", accounts[ALONE])}, read)
    # Venus: BTC from $60,000 to $50,000
    out += miner.block([(deployer, venus.oracle.functions.setUnderlyingPrice(venus.market("WBTC").address,
                                                                              usd_price_mantissa(50000, 8))),
                        venus_liquidation(SAME)], {1: ("venus", "same_block", accounts[SAME])}, read)
    out += miner.block([venus_liquidation(ALONE)], {0: ("venus", "alone", accounts[ALONE])}, read)
    # Morpho Blue: ETH from $3,000 to $2,700; one liquidation by seized assets, one by repaid shares
    out += miner.block([(deployer, eth_market.oracle.functions.setPrice(crash_eth)),
                        morpho_liquidation(SAME, seized=devchain.to_raw("WETH", "3"))],
                       {1: ("morpho-blue", "same_block", accounts[SAME])}, read)
    half = morpho.position("WETH/USDC", accounts[ALONE]).borrow_shares // 2
    out += miner.block([morpho_liquidation(ALONE, shares=half)], {0: ("morpho-blue", "alone", accounts[ALONE])}, read)
    devchain.mine(3)
    return out


def _funded(devchain: Devchain, account: str, symbol: str, amount: str) -> int:
    raw = devchain.to_raw(symbol, amount)
    devchain.fund(account, symbol, raw)
    return raw


def _aave_views(market: Any, user: str, block: int) -> dict[str, Any]:
    data = market.account_data(user, block)
    return {"health_factor": data[5], "prices": {s: market.price(s, block) for s in ("WBTC", "WETH")}}


def _venus_views(venus: Any, user: str, block: int) -> dict[str, Any]:
    error, liquidity, shortfall = venus.account_liquidity(user, block)
    return {"liquidity": liquidity, "shortfall": shortfall, "error": error,
            "prices": {s: venus.price(s, block) for s in ("WBTC", "WETH")}}


def _morpho_views(morpho: Any, user: str, block: int) -> dict[str, Any]:
    """The terms of ``Morpho._isHealthy`` (Morpho.sol L527-L539) from ``position``, ``market`` and the
    oracle at ``block``: maxBorrow = collateral x price / 1e36 x lltv / 1e18 (rounded down), borrowed =
    borrowShares x (totalBorrowAssets + 1) / (totalBorrowShares + 1e6) rounded up."""
    market = morpho.market("WETH/USDC")
    position, totals, price = (morpho.position("WETH/USDC", user, block), morpho.market_state("WETH/USDC", block),
                               morpho.price("WETH/USDC", block))
    denominator = totals.total_borrow_shares + 10**6
    borrowed = -(-position.borrow_shares * (totals.total_borrow_assets + 1) // denominator)
    max_borrow = position.collateral * price // 10**36 * market.params.lltv // 10**18
    return {"price": price, "health_factor": max_borrow * 10**18 // borrowed, "unhealthy": max_borrow < borrowed}
