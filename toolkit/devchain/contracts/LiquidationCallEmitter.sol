// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

/// @title LiquidationCallEmitter
/// @notice A LOG EMITTER for tests and benchmarks, NOT protocol code: it holds no state, checks
///         nothing and moves no tokens. It only emits events with the exact signature (and so the
///         topic0) of Aave v3's Pool `LiquidationCall` (npm aave core-v3, contracts/interfaces/IPool.sol),
///         with synthetic values, so that log readers can be exercised on many logs.
contract LiquidationCallEmitter {
    event LiquidationCall(
        address indexed collateralAsset,
        address indexed debtAsset,
        address indexed user,
        uint256 debtToCover,
        uint256 liquidatedCollateralAmount,
        address liquidator,
        bool receiveAToken
    );

    /// @notice Emit `n` LiquidationCall events whose values derive from `seed` and the event index:
    ///         one of 4 collateral and 4 debt pseudo-assets, a pseudo-random user, amounts in
    ///         [1, 1e24], the caller as liquidator, receiveAToken on about half of them.
    function emitMany(uint256 n, uint256 seed) external {
        for (uint256 i = 0; i < n; ++i) {
            uint256 x = uint256(keccak256(abi.encode(seed, i)));
            emit LiquidationCall(
                address(uint160(0xC0000 + (x % 4))),
                address(uint160(0xD0000 + ((x >> 8) % 4))),
                address(uint160(uint256(keccak256(abi.encode(x))))),
                ((x >> 16) % 1e24) + 1,
                ((x >> 96) % 1e24) + 1,
                msg.sender,
                (x >> 200) & 1 == 1
            );
        }
    }
}
