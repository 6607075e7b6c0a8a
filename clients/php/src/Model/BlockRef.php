<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * Where a transfer was mined.
 */
final class BlockRef
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly int $height,
        public readonly string $hash,
        public readonly int $time,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            height: Json::int($d, 'height'),
            hash: Json::str($d, 'hash'),
            time: Json::int($d, 'time'),
            raw: $d,
        );
    }
}
