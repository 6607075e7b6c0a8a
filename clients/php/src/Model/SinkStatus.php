<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * A sink's backlog.
 */
final class SinkStatus
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly int $pending,
        public readonly int $dead,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            pending: Json::int($d, 'pending'),
            dead: Json::int($d, 'dead'),
            raw: $d,
        );
    }
}
