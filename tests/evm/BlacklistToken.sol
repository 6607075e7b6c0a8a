// SPDX-License-Identifier: MIT
pragma solidity ^0.8.37;

/// A stablecoin with Tether's blacklist, for paywatch's risk screening
/// tests: the owner freezes an address (`addBlackList`), releases it
/// (`removeBlackList`) and burns a frozen balance (`destroyBlackFunds`), with
/// the events Tether's USDT emits (the address in the data, not indexed). A
/// frozen address cannot send (`transfer`, `transferFrom`) but can receive.
/// 6 decimals, `transferFrom` with allowances as any ERC-20.
contract BlacklistToken {
    string public constant name = "Paywatch Blacklist Token";
    string public constant symbol = "USDT";
    uint8 public constant decimals = 6;

    address public owner;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => bool) public isBlackListed;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event AddedBlackList(address _user);
    event RemovedBlackList(address _user);
    event DestroyedBlackFunds(address _blackListedUser, uint256 _balance);

    modifier onlyOwner() {
        require(msg.sender == owner, "owner");
        _;
    }

    constructor(uint256 supply) {
        owner = msg.sender;
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(!isBlackListed[msg.sender], "blacklisted");
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// Any amount, zero included, as the real token allows: a zero-value
    /// `transferFrom` needs no allowance, which is what address poisoning
    /// uses.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        require(!isBlackListed[from], "blacklisted");
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "allowance");
        allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
        return true;
    }

    function addBlackList(address evilUser) external onlyOwner {
        isBlackListed[evilUser] = true;
        emit AddedBlackList(evilUser);
    }

    function removeBlackList(address clearedUser) external onlyOwner {
        isBlackListed[clearedUser] = false;
        emit RemovedBlackList(clearedUser);
    }

    function destroyBlackFunds(address blackListedUser) external onlyOwner {
        require(isBlackListed[blackListedUser], "not blacklisted");
        uint256 dirtyFunds = balanceOf[blackListedUser];
        balanceOf[blackListedUser] = 0;
        totalSupply -= dirtyFunds;
        emit DestroyedBlackFunds(blackListedUser, dirtyFunds);
    }

    function _move(address from, address to, uint256 value) private {
        uint256 bal = balanceOf[from];
        require(bal >= value, "balance");
        unchecked {
            balanceOf[from] = bal - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
