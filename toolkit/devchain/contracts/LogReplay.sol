// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

/// @title ReplayStub
/// @notice TEST SCAFFOLDING, NOT PROTOCOL CODE (toolkit.devchain.replay). Installed with `anvil_setCode` at
///         the real mainnet address of a protocol contract on a local anvil chain, it does two things only:
///         (1) `replayEmit(topics, data)` emits one log with exactly those topics (0 to 4, so anonymous
///             logs too) and data, from this address;
///         (2) any other call is answered with the return data stored for its exact calldata by
///             `replaySetAnswers`, and reverts with "replay: no fixture answer" when none is stored.
///         It holds no other state, checks nothing and moves no tokens.
contract ReplayStub {
    /// keccak256(calldata) => raw return data
    mapping(bytes32 => bytes) private answers;
    /// keccak256(calldata) => whether an answer is stored (an empty answer is a valid answer)
    mapping(bytes32 => bool) private answered;

    bytes4 private constant EMIT = bytes4(keccak256("replayEmit(bytes32[],bytes)"));
    bytes4 private constant SET = bytes4(keccak256("replaySetAnswers(bytes[],bytes[],bool[])"));

    fallback(bytes calldata input) external returns (bytes memory) {
        if (input.length >= 4) {
            bytes4 selector = bytes4(input[:4]);
            if (selector == EMIT) {
                (bytes32[] memory topics, bytes memory data) = abi.decode(input[4:], (bytes32[], bytes));
                _emit(topics, data);
                return "";
            }
            if (selector == SET) {
                (bytes[] memory calls, bytes[] memory returns_, bool[] memory reverts) =
                    abi.decode(input[4:], (bytes[], bytes[], bool[]));
                require(calls.length == returns_.length && calls.length == reverts.length, "replay: length mismatch");
                for (uint256 i = 0; i < calls.length; ++i) {
                    bytes32 key = keccak256(calls[i]);
                    answered[key] = !reverts[i];
                    answers[key] = returns_[i];
                }
                return "";
            }
        }
        bytes32 callKey = keccak256(input);
        require(answered[callKey], "replay: no fixture answer");
        return answers[callKey];
    }

    function _emit(bytes32[] memory topics, bytes memory data) private {
        uint256 n = topics.length;
        require(n <= 4, "replay: more than 4 topics");
        assembly {
            let ptr := add(data, 32)
            let len := mload(data)
            switch n
            case 0 { log0(ptr, len) }
            case 1 { log1(ptr, len, mload(add(topics, 32))) }
            case 2 { log2(ptr, len, mload(add(topics, 32)), mload(add(topics, 64))) }
            case 3 { log3(ptr, len, mload(add(topics, 32)), mload(add(topics, 64)), mload(add(topics, 96))) }
            default {
                log4(ptr, len, mload(add(topics, 32)), mload(add(topics, 64)), mload(add(topics, 96)),
                     mload(add(topics, 128)))
            }
        }
    }
}

/// @title ReplayDriver
/// @notice TEST SCAFFOLDING: one transaction that makes several ReplayStubs emit their logs in order, so
///         the logs of one original transaction (possibly from several contracts) land in one transaction.
contract ReplayDriver {
    function replay(address[] calldata emitters, bytes32[][] calldata topics, bytes[] calldata data) external {
        require(emitters.length == topics.length && emitters.length == data.length, "replay: length mismatch");
        for (uint256 i = 0; i < emitters.length; ++i) {
            (bool ok, ) = emitters[i].call(abi.encodeWithSignature("replayEmit(bytes32[],bytes)", topics[i], data[i]));
            require(ok, "replay: emitter call failed");
        }
    }
}
