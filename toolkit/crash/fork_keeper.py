"""The keeper of a fork replay: liquidates the snapshot's positions on the forked chain with the protocols' real
code, as :mod:`toolkit.crash.keeper` does on the devchain, from the positions snapshot instead of a population.

* Funds: anvil account :data:`KEEPER_INDEX` gets twice the snapshot's debt of every borrowed token
  (``anvil_dealERC20``: anvil finds the token's balance slot) and approves the Aave pools, the borrowed cTokens and
  Morpho once.
* Liquidatable (one JSON-RPC batch of ``eth_call`` per pass): Aave ``getUserAccountData`` health factor below 1e18;
  Compound/Venus ``getAccountLiquidity`` shortfall above 0; Morpho ``_isHealthy`` false with ``position``,
  ``market`` and the oracle's ``price`` (:func:`toolkit.protocols.morpho_blue.health_factor`).
* Liquidating, within each protocol's rules (module docstring of :mod:`toolkit.crash.keeper`): Aave
  ``liquidationCall(collateral, debt, user, max, false)``, the volatile collateral first, then the others, whichever
  ``eth_call`` accepts; Compound/Venus ``liquidateBorrow(borrower, repay, cTokenCollateral)`` with ``repay`` = close
  factor x stored borrow, lowered until ``liquidateCalculateSeizeTokens`` fits the borrower's cTokens, its error
  code checked with ``eth_call`` first; Morpho all borrow shares, else all the collateral. A position is
  liquidated again in the same step while it stays liquidatable, up to
  :data:`toolkit.crash.keeper.MAX_PASSES` times (:func:`toolkit.crash.keeper.liquidation_passes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from web3 import Web3
from web3.types import RPCEndpoint

from toolkit.abi import load_abi
from toolkit.crash.keeper import KeeperAction, KeeperFailure, liquidation_passes, token_transfers
from toolkit.devchain.chain import Chain
from toolkit.protocols.aave import ERC20, POOL_V2, POOL_V3
from toolkit.protocols.compound_v2 import COMPTROLLER, CTOKEN, MANTISSA
from toolkit.protocols.morpho_blue import MORPHO, ORACLE, WAD, health_factor, to_assets_up
from toolkit.protocols.registry import Deployment
from toolkit.snapshot.compound import POSITIONS as CTOKEN_POSITIONS
from toolkit.snapshot.morpho import POSITIONS as MORPHO_POSITIONS

#: anvil account that repays debt and receives collateral (as on the devchain, :mod:`toolkit.crash.keeper`).
KEEPER_INDEX = 7
MAX_UINT256 = 2**256 - 1
SEIZE = load_abi("compound-v2/ComptrollerSeize.json").fn("liquidateCalculateSeizeTokens")
APPROVE = load_abi("common/ERC20Spending.json")
_SEIZE_FIT_ROUNDS = 8


@dataclass(frozen=True)
class ForkPosition:
    """A snapshot position the keeper watches: its index in the replay's population, protocol, deployment, market,
    account, its collateral (volatile first) and debt assets as the protocol names them (Aave and Morpho: tokens;
    Compound: cTokens), and the tokens the debt is repaid in."""

    index: int
    protocol: str
    deployment: Deployment
    market_id: str
    account: str
    collateral: tuple[str, ...]
    debt: tuple[str, ...]
    debt_tokens: tuple[str, ...]
    collateral_symbol: str


def _data(fn: Any, *args: Any) -> str:
    return "0x" + fn.encode(*args).hex()


class ForkKeeper:
    """Liquidates :class:`ForkPosition` s on a fork (module docstring)."""

    def __init__(self, chain: Chain, positions: Sequence[ForkPosition], debt_raw: dict[str, int]) -> None:
        self.chain, self.w3 = chain, chain.w3
        self.positions = list(positions)
        self.address = chain.accounts[KEEPER_INDEX]
        self.debt_raw = debt_raw
        self.actions: list[KeeperAction] = []
        self.failures: list[KeeperFailure] = []

    def fund(self) -> None:
        """Debt tokens and approvals (module docstring)."""
        spenders: dict[str, set[str]] = {}
        for p in self.positions:
            for asset, token in zip(p.debt, p.debt_tokens, strict=True):
                spender = (p.deployment.address("pool") if p.deployment.family == "aave" else asset
                           if p.deployment.family == "compound_v2" else p.deployment.address("morpho"))
                spenders.setdefault(token, set()).add(spender)
        for token, amount in sorted(self.debt_raw.items()):
            self.w3.manager.request_blocking(RPCEndpoint("anvil_dealERC20"), [
                self.address, Web3.to_checksum_address(token), hex(2 * amount + 1)])
            for spender in sorted(spenders.get(token, ())):
                self.chain.send(self.address, _data(APPROVE.fn("approve"), spender, MAX_UINT256),
                                to=Web3.to_checksum_address(token))

    # -- reading ----------------------------------------------------------------------------------

    def _batch(self, calls: Sequence[tuple[str, str]]) -> list[bytes | None]:
        responses = self.w3.provider.make_batch_request(
            [(RPCEndpoint("eth_call"), [{"to": Web3.to_checksum_address(to), "data": data}, "latest"])
             for to, data in calls]) if calls else []
        return [None if "error" in r else bytes.fromhex(str(r["result"])[2:]) for r in responses]

    def liquidatable(self) -> list[ForkPosition]:
        """The positions their protocol lets a liquidator take now."""
        calls, owners = [], []
        for p in self.positions:
            family = p.deployment.family
            if family == "aave":
                pool_abi = POOL_V3 if int(p.deployment.params["aave_version"]) >= 3 else POOL_V2
                calls.append((p.deployment.address("pool"), _data(pool_abi.fn("getUserAccountData"), p.account)))
            elif family == "compound_v2":
                calls.append((p.deployment.address("comptroller"), _data(COMPTROLLER.fn("getAccountLiquidity"),
                                                                         p.account)))
            else:
                morpho, market = p.deployment.address("morpho"), bytes.fromhex(p.market_id[2:])
                calls += [(morpho, _data(MORPHO.fn("position"), market, p.account)),
                          (morpho, _data(MORPHO.fn("market"), market)),
                          (morpho, _data(MORPHO.fn("idToMarketParams"), market))]
            owners.append((p, len(calls)))
        answers = self._batch(calls)
        due, start = [], 0
        for p, end in owners:
            mine = answers[start:end]
            start = end
            if any(a is None for a in mine):
                continue
            if self._due(p, mine):
                due.append(p)
        return due

    def _due(self, p: ForkPosition, answers: list[bytes | None]) -> bool:
        family = p.deployment.family
        if family == "aave":
            pool_abi = POOL_V3 if int(p.deployment.params["aave_version"]) >= 3 else POOL_V2
            collateral, debt, *_, health = pool_abi.fn("getUserAccountData").decode_output(answers[0])
            return debt > 0 and collateral > 0 and health < WAD
        if family == "compound_v2":
            _, _, shortfall = COMPTROLLER.fn("getAccountLiquidity").decode_output(answers[0])
            return shortfall > 0
        _, shares, collateral = MORPHO.fn("position").decode_output(answers[0])
        _, _, assets, total_shares, _, _ = MORPHO.fn("market").decode_output(answers[1])
        oracle, lltv = MORPHO.fn("idToMarketParams").decode_output(answers[2])[2:5:2]
        borrowed = to_assets_up(shares, assets, total_shares)
        if not borrowed or not collateral:
            return False
        price = self._view(oracle, ORACLE.fn("price"))[0]
        return health_factor(collateral, borrowed, price, lltv) < WAD

    def _view(self, to: str, fn: Any, *args: Any, sender: str | None = None) -> tuple[Any, ...]:
        tx = {"to": Web3.to_checksum_address(to), "data": _data(fn, *args)}
        if sender:
            tx["from"] = sender
        return fn.decode_output(self.w3.eth.call(tx))

    # -- liquidating ------------------------------------------------------------------------------

    def step(self, step: int) -> list[KeeperAction]:
        """Liquidate every liquidatable position (module docstring)."""
        actions = liquidation_passes(step, lambda settled: [p for p in self.liquidatable() if p.index not in settled],
                                     lambda p: self._liquidate(step, p), self.failures)
        self.actions.extend(actions)
        return actions

    def _send(self, step: int, p: ForkPosition, to: str, data: str, symbol: str) -> KeeperAction:
        receipt = self.chain.send(self.address, data, to=Web3.to_checksum_address(to))
        return KeeperAction(step, p.index, p.protocol, symbol, receipt["transactionHash"].to_0x_hex(),
                            receipt["blockNumber"], token_transfers(receipt))

    def _accepts(self, to: str, data: str) -> bytes | None:
        try:
            return bytes(self.w3.eth.call({"from": self.address, "to": Web3.to_checksum_address(to), "data": data}))
        except Exception:  # the protocol refuses this liquidation (revert): try another way or give up
            return None

    def _liquidate(self, step: int, p: ForkPosition) -> KeeperAction | None:
        family = p.deployment.family
        if family == "aave":
            pool_abi = POOL_V3 if int(p.deployment.params["aave_version"]) >= 3 else POOL_V2
            pool = p.deployment.address("pool")
            for collateral in p.collateral:
                data = _data(pool_abi.fn("liquidationCall"), collateral, p.debt[0], p.account, MAX_UINT256, False)
                if self._accepts(pool, data) is not None:
                    return self._send(step, p, pool, data, self._symbol(collateral))
            return None
        if family == "compound_v2":
            return self._compound(step, p)
        return self._morpho(step, p)

    def _symbol(self, token: str) -> str:
        return str(self._view(token, ERC20.fn("symbol"))[0])

    def _compound(self, step: int, p: ForkPosition) -> KeeperAction | None:
        comptroller, borrowed = p.deployment.address("comptroller"), p.debt[0]
        close_factor = self._view(comptroller, COMPTROLLER.fn("closeFactorMantissa"))[0]
        debt = self._view(borrowed, CTOKEN.fn("getAccountSnapshot"), p.account)[2]
        for collateral in p.collateral:
            held = self._view(collateral, CTOKEN.fn("getAccountSnapshot"), p.account)[1]
            repay = debt * close_factor // MANTISSA
            for _ in range(_SEIZE_FIT_ROUNDS):
                _, seize = self._view(comptroller, SEIZE, borrowed, collateral, repay)
                if seize <= held or repay == 0:
                    break
                repay = max(0, min(repay - 1, repay * held // seize))
            if repay == 0 or held == 0:
                continue
            data = _data(CTOKEN_POSITIONS.fn("liquidateBorrow"), p.account, repay, collateral)
            answer = self._accepts(borrowed, data)
            if answer is not None and decode(["uint256"], answer)[0] == 0:
                return self._send(step, p, borrowed, data, p.collateral_symbol)
        return None

    def _morpho(self, step: int, p: ForkPosition) -> KeeperAction | None:
        morpho, market = p.deployment.address("morpho"), bytes.fromhex(p.market_id[2:])
        params = self._view(morpho, MORPHO.fn("idToMarketParams"), market)
        _, shares, collateral = self._view(morpho, MORPHO.fn("position"), market, p.account)
        liquidate = MORPHO_POSITIONS.fn("liquidate")
        for seized, repaid in ((0, shares), (collateral, 0)):
            data = _data(liquidate, tuple(params), p.account, seized, repaid, b"")
            if self._accepts(morpho, data) is not None:
                return self._send(step, p, morpho, data, p.collateral_symbol)
        return None
