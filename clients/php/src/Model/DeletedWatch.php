<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * The answer to deleting a watch.
 */
final class DeletedWatch
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly bool $deleted,
        public readonly string $chain,
        public readonly string $address,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            deleted: Json::bool($d, 'deleted'),
            chain: Json::str($d, 'chain'),
            address: Json::str($d, 'address'),
            raw: $d,
        );
    }
}
