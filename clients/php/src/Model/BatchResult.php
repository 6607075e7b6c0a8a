<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * How many watches of a bulk load were new, and how many existed already.
 */
final class BatchResult
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly int $created,
        public readonly int $existing,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            created: Json::int($d, 'created'),
            existing: Json::int($d, 'existing'),
            raw: $d,
        );
    }
}
