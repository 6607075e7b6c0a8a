// SPDX-License-Identifier: MIT
pragma solidity ^0.8.37;

interface IERC20 {
    function transfer(address to, uint256 value) external returns (bool);
}

/// Makes payments from inside a contract, for paywatch's EVM integration tests:
/// - forward(): an internal native transfer (visible only in call traces, not
///   in the outer transaction's `to`/`value`);
/// - forwardToken(): a token transfer whose outer transaction goes to this
///   contract, not to the token (the Transfer log is still emitted by the token);
/// - forwardThenRevert() and tryForward(): an internal transfer whose call
///   returned but which a caller above it undid (the transaction fails, or a
///   caught revert inside a successful transaction): it must never count.
contract Forwarder {
    /// Sends all of msg.value on to `to` with a plain call; reverts if that fails.
    function forward(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
    }

    /// Sends msg.value on to `to`, then reverts: nothing moves.
    function forwardThenRevert(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
        revert("undone");
    }

    /// Calls forwardThenRevert on itself and catches its revert: the
    /// transaction succeeds and the value stays in this contract.
    function tryForward(address payable to) external payable {
        try this.forwardThenRevert{value: msg.value}(to) {} catch {}
    }

    /// Transfers `amount` of `token` held by this contract to `to`.
    function forwardToken(address token, address to, uint256 amount) external {
        require(IERC20(token).transfer(to, amount), "token transfer failed");
    }

    /// Accepts plain ETH so tests can fund it.
    receive() external payable {}
}
