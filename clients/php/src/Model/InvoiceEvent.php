<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * An invoice changed state (invoice.*) or one of its refunds moved
 * (refund.*). invoice is the invoice as the change left it; amount is what
 * it received so far (a refund's amount for refund.*), in base units.
 */
final class InvoiceEvent extends Event
{
    /** @param array<string, mixed> $raw */
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
        public readonly Invoice $invoice,
        public readonly ?string $txid = null,
        public readonly ?int $index = null,
        public readonly ?BlockRef $block = null,
        public readonly ?int $confirmations = null,
        public readonly ?string $paymentEvent = null,
        public readonly ?Refund $refund = null,
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
            invoice: Invoice::fromArray(Json::arr($d, 'invoice')),
            txid: Json::optStr($d, 'txid'),
            index: Json::optInt($d, 'index'),
            block: Json::optObj($d, 'block', [BlockRef::class, 'fromArray']),
            confirmations: Json::optInt($d, 'confirmations'),
            paymentEvent: Json::optStr($d, 'payment_event'),
            refund: Json::optObj($d, 'refund', [Refund::class, 'fromArray']),
        );
    }
}
