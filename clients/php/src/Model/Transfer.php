<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One value moved to or from a watched address by one transaction; amount in base units.
 */
final class Transfer
{
    /**
     * @param list<string>|null $riskFlags risk screening's flags, when screened
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $chain,
        public readonly string $txid,
        public readonly int $index,
        public readonly string $direction,
        public readonly string $address,
        public readonly string $addressKey,
        public readonly Asset $asset,
        public readonly string $amount,
        public readonly BlockRef $block,
        public readonly int $height,
        public readonly string $blockHash,
        public readonly int $confirmations,
        public readonly string $status,
        public readonly WatchRef $watch,
        public readonly array $raw,
        public readonly ?string $counterparty = null,
        public readonly ?array $riskFlags = null,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            chain: Json::str($d, 'chain'),
            txid: Json::str($d, 'txid'),
            index: Json::int($d, 'index'),
            direction: Json::str($d, 'direction'),
            address: Json::str($d, 'address'),
            addressKey: Json::str($d, 'address_key'),
            asset: Asset::fromArray(Json::arr($d, 'asset')),
            amount: Json::str($d, 'amount'),
            block: BlockRef::fromArray(Json::arr($d, 'block')),
            height: Json::int($d, 'height'),
            blockHash: Json::str($d, 'block_hash'),
            confirmations: Json::int($d, 'confirmations'),
            status: Json::str($d, 'status'),
            watch: WatchRef::fromArray(Json::arr($d, 'watch')),
            counterparty: Json::optStr($d, 'counterparty'),
            riskFlags: Json::optObj($d, 'risk', static fn (array $r): array => Json::arr($r, 'flags')),
            raw: $d,
        );
    }
}
