// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title The reader of liquidation-toolkit: many contract reads in one eth_call.
/// @notice Never deployed. Its runtime code is put at an unused address by the eth_call's state override
///         (toolkit/chain/reader.py), so it works on any node that accepts overrides, at any block.
/// @dev `run` executes `calls` in order and returns every call's (success, return data), with the block
///      number and timestamp it ran in and a word of its own storage (`PROBE_SLOT`): the caller sets that
///      word with the override's `stateDiff` and checks it, which proves the node applied the override.
///
///      A call may take words of earlier calls' return data before it runs ("patches"), so calls that
///      depend on each other (an oracle address, then its prices) still need one eth_call. Each patch is
///      one uint256:
///        bits   0-15  index of the earlier call whose return data is read
///        bits  16-31  index of the 32-byte word of that return data
///        bits  32-63  byte offset in this call's data where the word is written (a whole word), or
///                     0xffffffff: the word is this call's target (it must be an address)
///      A call whose source call failed, whose source word is missing, or whose target word is not an
///      address does not run and fails with empty data.
///
///      Calls run as STATICCALL, with at most `gasPerCall` gas each. A call with `isolated` set runs as a
///      CALL inside a frame that is always reverted (`isolate`), so a function that writes storage (a
///      price feed's `fetchPrice`) can be read and its writes are discarded before the next call.
contract LiquidationToolkitReader {
    struct Call {
        address target;
        bytes data;
        uint256[] patches;
        bool isolated;
    }

    struct Result {
        bool success;
        bytes data;
    }

    /// @notice Storage slot of this contract returned as `probe` by `run`.
    uint256 public constant PROBE_SLOT = uint256(keccak256("liquidation-toolkit.reader.probe"));

    uint256 private constant TARGET = 0xffffffff;

    /// @notice Run `calls` in order (see the contract's notes).
    function run(Call[] calldata calls, uint256 gasPerCall)
        external
        returns (uint256 blockNumber, uint256 timestamp, bytes32 probe, Result[] memory results)
    {
        results = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; ++i) {
            results[i] = _one(calls[i], results, i, gasPerCall);
        }
        uint256 slot = PROBE_SLOT;
        assembly {
            probe := sload(slot)
        }
        return (block.number, block.timestamp, probe, results);
    }

    /// @notice Run one call as CALL and revert with abi.encode(success, return data): its writes are undone.
    function isolate(address target, bytes calldata data, uint256 gasLimit) external {
        (bool success, bytes memory answer) = target.call{gas: gasLimit}(data);
        bytes memory out = abi.encode(success, answer);
        assembly {
            revert(add(out, 32), mload(out))
        }
    }

    function _one(Call calldata c, Result[] memory results, uint256 index, uint256 gasPerCall)
        private
        returns (Result memory)
    {
        address target = c.target;
        bytes memory data = c.data;
        for (uint256 j = 0; j < c.patches.length; ++j) {
            uint256 patch = c.patches[j];
            uint256 source = patch & 0xffff;
            uint256 wordIndex = (patch >> 16) & 0xffff;
            uint256 offset = (patch >> 32) & 0xffffffff;
            if (source >= index || !results[source].success || results[source].data.length < wordIndex * 32 + 32) {
                return Result(false, "");
            }
            bytes memory from = results[source].data;
            uint256 word;
            assembly {
                word := mload(add(add(from, 32), mul(wordIndex, 32)))
            }
            if (offset == TARGET) {
                if (word >> 160 != 0) {
                    return Result(false, "");
                }
                target = address(uint160(word));
            } else {
                if (offset + 32 > data.length) {
                    return Result(false, "");
                }
                assembly {
                    mstore(add(add(data, 32), offset), word)
                }
            }
        }
        uint256 left = gasleft();
        if (left < 100_000) {
            return Result(false, "");
        }
        uint256 gasLimit = left - 50_000 > gasPerCall ? gasPerCall : left - 50_000;
        if (!c.isolated) {
            (bool ok, bytes memory answer) = target.staticcall{gas: gasLimit}(data);
            return Result(ok, answer);
        }
        (, bytes memory wrapped) = address(this).call(abi.encodeCall(this.isolate, (target, data, gasLimit)));
        if (wrapped.length < 96) {
            return Result(false, "");
        }
        (bool success, bytes memory inner) = abi.decode(wrapped, (bool, bytes));
        return Result(success, inner);
    }
}
