<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One page of deliveries; pass next back as after.
 */
final class DeliveryPage
{
    /**
     * @param list<Delivery> $deliveries
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly array $deliveries,
        public readonly ?string $next,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            deliveries: Json::list($d, 'deliveries', [Delivery::class, 'fromArray']),
            next: Json::optStr($d, 'next'),
            raw: $d,
        );
    }
}
