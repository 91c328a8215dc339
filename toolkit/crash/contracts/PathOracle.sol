// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

/// @title PathOracle
/// @notice Runtime code the fork replay puts in place of a forked chain's price feeds and oracles (anvil_setCode),
///         so the replay sets their answers by writing storage. NOT protocol code.
///         It answers the three interfaces the replayed protocols read:
///         - Chainlink aggregators (Aave v2/v3 asset sources, the registry's ETH/USD feed): latestAnswer(),
///           latestRoundData(), decimals(), from slot 0 (answer) and slot 1 (decimals);
///         - Morpho Blue IOracle: price(), slot 0;
///         - Compound v2 / Venus price oracles: getUnderlyingPrice(cToken), mapping at slot 2 keyed by the cToken.
contract PathOracle {
    int256 private answer;
    uint8 private answerDecimals;
    mapping(address => uint256) private underlyingPrices;

    function latestAnswer() external view returns (int256) {
        return answer;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (1, answer, block.timestamp, block.timestamp, 1);
    }

    function decimals() external view returns (uint8) {
        return answerDecimals;
    }

    function price() external view returns (uint256) {
        return uint256(answer);
    }

    function getUnderlyingPrice(address cToken) external view returns (uint256) {
        return underlyingPrices[cToken];
    }
}
