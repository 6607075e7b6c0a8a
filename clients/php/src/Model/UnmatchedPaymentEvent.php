<?php

declare(strict_types=1);

namespace Paywatch\Model;

/** A payment to a shared or pool address that credits no invoice. */
final class UnmatchedPaymentEvent extends Event
{
    /**
     * @param array<string, mixed> $raw
     * @param list<array{id: string, order_id: string, amount_due: string, least_payable: string}> $candidates
     */
    public function __construct(
        string $id,
        string $type,
        int $seq,
        string $chain,
        string $network,
        array $raw,
        public readonly string $direction,
        public readonly string $address,
        public readonly Asset $asset,
        public readonly string $amount,
        public readonly WatchRef $watch,
        public readonly string $txid,
        public readonly int $index,
        public readonly int $confirmations,
        public readonly string $paymentEvent,
        public readonly array $candidates,
        public readonly ?BlockRef $block = null,
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
            direction: Json::str($d, 'direction'),
            address: Json::str($d, 'address'),
            asset: Asset::fromArray(Json::arr($d, 'asset')),
            amount: Json::str($d, 'amount'),
            watch: WatchRef::fromArray(Json::arr($d, 'watch')),
            txid: Json::str($d, 'txid'),
            index: Json::int($d, 'index'),
            confirmations: Json::int($d, 'confirmations'),
            paymentEvent: Json::str($d, 'payment_event'),
            candidates: array_values(Json::arr($d, 'candidates')),
            block: Json::optObj($d, 'block', [BlockRef::class, 'fromArray']),
        );
    }
}
