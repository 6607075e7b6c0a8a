<?php

declare(strict_types=1);

namespace Paywatch\Model;

/** A stablecoin's issuer froze (address.frozen) or released (address.unfrozen) a watched address. */
final class AddressEvent extends Event
{
    /** @param array<string, mixed> $raw */
    public function __construct(
        string $id,
        string $type,
        int $seq,
        string $chain,
        string $network,
        array $raw,
        public readonly string $address,
        public readonly Asset $asset,
        public readonly string $txid,
        public readonly int $index,
        public readonly BlockRef $block,
        public readonly WatchRef $watch,
        public readonly ?string $destroyed = null,
    ) {
        parent::__construct($id, $type, $seq, $chain, $network, $raw);
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            id: Json::str($d, 'id'),
            type: Json::str($d, 'type'),
            seq: Json::int($d, 'seq'),
            chain: Json::str($d, 'chain'),
            network: Json::str($d, 'network'),
            raw: $d,
            address: Json::str($d, 'address'),
            asset: Asset::fromArray(Json::arr($d, 'asset')),
            txid: Json::str($d, 'txid'),
            index: Json::int($d, 'index'),
            block: BlockRef::fromArray(Json::arr($d, 'block')),
            watch: WatchRef::fromArray(Json::arr($d, 'watch')),
            destroyed: Json::optStr($d, 'destroyed'),
        );
    }
}
