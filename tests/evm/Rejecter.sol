// SPDX-License-Identifier: MIT
pragma solidity ^0.8.37;

/// Refuses every payment, for paywatch's EVM integration tests: a native
/// transfer to it (directly, or via Forwarder.forward) fails, so tests can check
/// that failed transactions (receipt status 0x0) and reverted internal calls are
/// not counted as payments.
contract Rejecter {
    receive() external payable {
        revert("Rejecter: no payments");
    }

    fallback() external payable {
        revert("Rejecter: no payments");
    }
}
