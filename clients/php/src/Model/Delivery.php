<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One event on its way to one sink (sink), or one a plugin failed on (plugin). Times in Unix milliseconds.
 */
final class Delivery
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $id,
        public readonly int $seq,
        public readonly string $eventId,
        public readonly string $chain,
        public readonly string $address,
        public readonly string $status,
        public readonly int $attempts,
        public readonly int $createdMs,
        public readonly int $sinceMs,
        public readonly int $nextAttemptMs,
        public readonly array $raw,
        public readonly ?string $sink = null,
        public readonly ?string $plugin = null,
        public readonly ?int $deliveredMs = null,
        public readonly ?string $lastError = null,
        public readonly ?int $delayed = null,
        public readonly mixed $payload = null,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            id: Json::str($d, 'id'),
            seq: Json::int($d, 'seq'),
            eventId: Json::str($d, 'event_id'),
            chain: Json::str($d, 'chain'),
            address: Json::str($d, 'address'),
            status: Json::str($d, 'status'),
            attempts: Json::int($d, 'attempts'),
            createdMs: Json::int($d, 'created_ms'),
            sinceMs: Json::int($d, 'since_ms'),
            nextAttemptMs: Json::int($d, 'next_attempt_ms'),
            sink: Json::optStr($d, 'sink'),
            plugin: Json::optStr($d, 'plugin'),
            deliveredMs: Json::optInt($d, 'delivered_ms'),
            lastError: Json::optStr($d, 'last_error'),
            delayed: Json::optInt($d, 'delayed'),
            payload: $d['payload'] ?? null,
            raw: $d,
        );
    }
}
