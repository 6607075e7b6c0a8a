<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * A watched address as stored.
 */
final class Watch
{
    /**
     * @param array<string, mixed> $metadata
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $chain,
        public readonly string $address,
        public readonly ?string $label,
        public readonly array $metadata,
        public readonly int $createdAt,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            chain: Json::str($d, 'chain'),
            address: Json::str($d, 'address'),
            label: Json::optStr($d, 'label'),
            metadata: Json::arr($d, 'metadata'),
            createdAt: Json::int($d, 'created_at'),
            raw: $d,
        );
    }
}
