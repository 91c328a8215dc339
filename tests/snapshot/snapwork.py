"""Helpers of the positions-snapshot tests: the book of positions they share and the protocols' own views."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from web3 import Web3

from toolkit.crash.driver import OracleDriver
from toolkit.crash.population import PopulationSpec, borrower_address, build_population
from toolkit.crash.positions import open_positions
from toolkit.devchain import Devchain
from toolkit.devchain.aave_v3 import POOL_CONFIGURATOR
from toolkit.devchain.assets import MAX_UINT256

#: E-mode category set up on the devchain's Aave v3 for the test: USDC only, LTV 90 %, LT 93 %, bonus 1 %.
EMODE = (1, 9000, 9300, 10100)
#: anvil accounts of the test's own actors (the crash population uses derived addresses).
EMODE_USER, REPAID_USER, SUPPLIER = 12, 13, 14


@dataclass
class Book:
    """The chain and who is on it: the crash population, the e-mode borrower, the account that repaid all its
    debt and the supplier who never borrowed."""

    devchain: Devchain
    borrowers: list[Any]
    emode_user: str
    repaid_user: str
    supplier: str


def open_book(devchain: Devchain) -> Book:
    """16 crash-replay positions (four per protocol, WETH and USDC collateral, USDC debt) at ETH 3,000 USD, an
    Aave v3 account in the USDC e-mode category, one that borrowed and repaid everything, one supplier only."""
    OracleDriver(devchain).move({"ETH": Decimal(3000), "BTC": Decimal(60000)})
    borrowers = build_population(PopulationSpec(borrowers=16), "WETH", Decimal(3000), seed=11)
    open_positions(devchain, borrowers)
    v3, chain = devchain.v3, devchain.chain
    admin = chain.at(POOL_CONFIGURATOR, v3.addresses()["poolConfigurator"])
    category, ltv, lt, bonus = EMODE
    chain.transact(admin.functions.setEModeCategory(category, ltv, lt, bonus, "0x" + "0" * 40, "stables"))
    chain.transact(admin.functions.setAssetEModeCategory(v3.reserve("USDC").underlying, category))
    emode, repaid, supplier = (devchain.accounts[i] for i in (EMODE_USER, REPAID_USER, SUPPLIER))
    devchain.fund_and_supply(v3, emode, {"USDC": "20000", "WETH": "2"})
    chain.transact(v3.pool.functions.setUserEMode(category), emode)
    v3.borrow(emode, "USDC", devchain.to_raw("USDC", "21000"))
    devchain.fund_and_supply(v3, repaid, {"WETH": "1"})
    v3.borrow(repaid, "USDC", devchain.to_raw("USDC", "500"))
    devchain.fund(repaid, "USDC", devchain.to_raw("USDC", "10"))
    v3.approve(repaid, "USDC", MAX_UINT256)
    chain.transact(v3.pool.functions.repay(v3.reserve("USDC").underlying, MAX_UINT256, 2, repaid), repaid)
    devchain.fund_and_supply(v3, supplier, {"WETH": "3"})
    devchain.mine(2)
    return Book(devchain, borrowers, emode.lower(), repaid.lower(), supplier.lower())


def call(w3: Web3, to: str, fn: Any, args: tuple[Any, ...], block: int) -> tuple[Any, ...]:
    """``fn`` (a :class:`toolkit.abi.FunctionSpec`) of ``to`` at ``block``, decoded."""
    data = w3.eth.call({"to": Web3.to_checksum_address(to), "data": "0x" + fn.encode(*args).hex()}, block)
    return fn.decode_output(data)


def population_address(index: int) -> str:
    return borrower_address(index).lower()
