"""Open a replay's borrower population on the devchain with real protocol transactions.

Order (it fixes every address, nonce and block, so the same population gives the same chain):

1. the liquidity provider (anvil account :data:`LIQUIDITY_PROVIDER_INDEX`) mints USDC and supplies
   :data:`LIQUIDITY_FACTOR` times what the borrowers of each protocol market will borrow (Aave v3 and v2
   ``supply``/``deposit``, Venus ``mint``, Morpho Blue ``supply`` per market), so every market opens at 50 %
   utilization or less;
2. each borrower in population order: ``anvil_impersonateAccount`` and ``anvil_setBalance`` (gas money, 100 ETH)
   for its derived address (:func:`toolkit.crash.population.borrower_address`), ``mint`` of its collateral
   tokens, then on its protocol: Aave ``supply``/``deposit`` of each collateral token and ``borrow`` of USDC
   at the variable rate; Venus ``mint``, ``enterMarkets`` and ``borrow``; Morpho Blue ``supplyCollateral`` and
   ``borrow``. The calls are the devchain's market actions (:mod:`toolkit.devchain.market`,
   :mod:`toolkit.devchain.venus`, :mod:`toolkit.devchain.morpho`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from web3.types import RPCEndpoint

from toolkit.crash.population import STABLE, Borrower
from toolkit.devchain import Devchain

#: anvil account that supplies the USDC the borrowers take.
LIQUIDITY_PROVIDER_INDEX = 1
#: USDC supplied per protocol market, as a multiple of what its borrowers borrow.
LIQUIDITY_FACTOR = 2
#: Native balance given to each impersonated borrower for gas (wei).
GAS_MONEY = 100 * 10**18


def market_key(borrower: Borrower) -> str:
    """The lending market a borrower uses: the protocol id, with the Morpho Blue market name appended."""
    return f"morpho-blue:{borrower.morpho_market}" if borrower.protocol == "morpho-blue" else borrower.protocol


def supply_liquidity(devchain: Devchain, borrowers: Sequence[Borrower]) -> dict[str, int]:
    """Step 1 of the module docstring; returns the raw USDC supplied per market key."""
    assert devchain.venus is not None and devchain.morpho is not None
    provider = devchain.accounts[LIQUIDITY_PROVIDER_INDEX]
    needed: dict[str, int] = defaultdict(int)
    for borrower in borrowers:
        needed[market_key(borrower)] += borrower.debt_raw * LIQUIDITY_FACTOR
    markets = {"aave-v3": devchain.v3, "aave-v2": devchain.v2}
    for key, amount in sorted(needed.items()):
        devchain.fund(provider, STABLE, amount)
        if key in markets:
            markets[key].supply(provider, STABLE, amount)
        elif key == "venus":
            devchain.venus.supply(provider, STABLE, amount)
        else:
            devchain.morpho.supply(provider, key.removeprefix("morpho-blue:"), amount)
    return dict(needed)


def open_position(devchain: Devchain, borrower: Borrower) -> None:
    """Step 2 of the module docstring for one borrower."""
    assert devchain.venus is not None and devchain.morpho is not None
    w3, user = devchain.chain.w3, borrower.address
    w3.manager.request_blocking(RPCEndpoint("anvil_impersonateAccount"), [user])
    w3.manager.request_blocking(RPCEndpoint("anvil_setBalance"), [user, hex(GAS_MONEY)])
    amounts = {borrower.collateral_symbol: borrower.collateral_raw, STABLE: borrower.stable_raw}
    posted = {symbol: amount for symbol, amount in amounts.items() if amount}
    for symbol, amount in posted.items():
        devchain.fund(user, symbol, amount)
    if borrower.protocol in ("aave-v3", "aave-v2"):
        market = devchain.v3 if borrower.protocol == "aave-v3" else devchain.v2
        for symbol, amount in posted.items():
            market.supply(user, symbol, amount)
        market.borrow(user, STABLE, borrower.debt_raw)
    elif borrower.protocol == "venus":
        for symbol, amount in posted.items():
            devchain.venus.supply(user, symbol, amount)
        devchain.venus.enter_markets(user, list(posted))
        devchain.venus.borrow(user, STABLE, borrower.debt_raw)
    else:
        devchain.morpho.supply_collateral(user, borrower.morpho_market, borrower.collateral_raw)
        devchain.morpho.borrow(user, borrower.morpho_market, borrower.debt_raw)


def open_positions(devchain: Devchain, borrowers: Sequence[Borrower],
                   progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Supply the liquidity, then open every position in order; ``progress(done)`` after each one.
    Returns the raw USDC supplied per market key."""
    supplied = supply_liquidity(devchain, borrowers)
    for done, borrower in enumerate(borrowers, start=1):
        open_position(devchain, borrower)
        if progress is not None:
            progress(done)
    return supplied
