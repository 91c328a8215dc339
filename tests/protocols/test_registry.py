"""``--address``: a custom deployment's address is checked and stored in its EIP-55 checksum form
(https://eips.ethereum.org/EIPS/eip-55), as eth_utils would, without importing eth_utils at start-up."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from toolkit.errors import UserInputError
from toolkit.protocols import registry

AAVE = registry().find("ethereum", "aave-v3")[0]
ROLE = AAVE.emitter_roles[0]
#: The examples of EIP-55: all caps, all lower, mixed case.
EIP55 = ["0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
         "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
         "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
         "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"]


@pytest.mark.parametrize("address", EIP55)
def test_an_address_in_any_case_is_stored_checksummed(address: str) -> None:
    for spelling in (address, address.lower(), "0x" + address[2:].upper(), address[2:].lower()):
        custom = AAVE.with_address(spelling)
        assert custom.contracts[ROLE] == address and custom.source == f"user-supplied --address {address}"


@given(st.binary(min_size=20, max_size=20))
def test_the_checksum_is_eth_utils_one(raw: bytes) -> None:
    assert AAVE.with_address(raw.hex()).contracts[ROLE] == to_checksum_address(raw.hex())


@pytest.mark.parametrize(("address", "message"), [
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "fails its EIP-55 checksum"),  # last letter's case flipped
    ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea", "not a 20-byte hex address"),
    ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedff", "not a 20-byte hex address"),
    ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", "not a 20-byte hex address"),
])
def test_a_mistyped_address_is_refused(address: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        AAVE.with_address(address)
