<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * How an invoice priced in fiat got its amount.
 */
final class Pricing
{
    /**
     * @param list<string> $rateSources
     * @param array<string, mixed>|null $previous after a re-lock: amount_due, amount_due_base, least_payable, until, honoured
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $price,
        public readonly string $currency,
        public readonly string $rate,
        public readonly array $rateSources,
        public readonly int $rateAsOf,
        public readonly array $raw,
        public readonly ?string $sourceRate = null,
        public readonly ?string $rateAdjust = null,
        public readonly ?int $places = null,
        public readonly ?int $lockedAt = null,
        public readonly ?int $relocks = null,
        public readonly ?array $previous = null,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            price: Json::str($d, 'price'),
            currency: Json::str($d, 'currency'),
            rate: Json::str($d, 'rate'),
            rateSources: Json::arr($d, 'rate_sources'),
            rateAsOf: Json::int($d, 'rate_as_of'),
            sourceRate: Json::optStr($d, 'source_rate'),
            rateAdjust: Json::optStr($d, 'rate_adjust'),
            places: Json::optInt($d, 'places'),
            lockedAt: Json::optInt($d, 'locked_at'),
            relocks: Json::optInt($d, 'relocks'),
            previous: Json::optArr($d, 'previous'),
            raw: $d,
        );
    }
}
