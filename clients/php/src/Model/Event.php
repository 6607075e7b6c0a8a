<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One entry of the events feed. Event::fromArray() returns the subclass for
 * its type: PaymentEvent (payment.*), InvoiceEvent (invoice.* and refund.*),
 * UnmatchedPaymentEvent (invoice.unmatched_payment) or AddressEvent
 * (address.*); a type this version does not know stays an Event.
 */
class Event
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        /** Stable across deliveries: deduplicate by it. */
        public readonly string $id,
        public readonly string $type,
        /** Position in the feed, strictly increasing. */
        public readonly int $seq,
        public readonly string $chain,
        public readonly string $network,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        $type = is_string($d['type'] ?? null) ? $d['type'] : '';
        return match (true) {
            str_starts_with($type, 'payment.') => PaymentEvent::fromArray($d),
            $type === 'invoice.unmatched_payment' => UnmatchedPaymentEvent::fromArray($d),
            str_starts_with($type, 'invoice.'), str_starts_with($type, 'refund.') => InvoiceEvent::fromArray($d),
            str_starts_with($type, 'address.') => AddressEvent::fromArray($d),
            default => new self(
                Json::str($d, 'id'),
                Json::str($d, 'type'),
                Json::int($d, 'seq'),
                Json::str($d, 'chain'),
                Json::str($d, 'network'),
                $d,
            ),
        };
    }
}
