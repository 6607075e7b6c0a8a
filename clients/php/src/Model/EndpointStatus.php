<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One node endpoint of a chain.
 */
final class EndpointStatus
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $endpoint,
        public readonly int $priority,
        public readonly string $state,
        public readonly ?int $tip,
        public readonly ?int $lag,
        public readonly float $latencyMs,
        public readonly int $requests,
        public readonly int $errors,
        public readonly ?string $lastError,
        public readonly ?int $unhealthyForSecs,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            endpoint: Json::str($d, 'endpoint'),
            priority: Json::int($d, 'priority'),
            state: Json::str($d, 'state'),
            tip: Json::optInt($d, 'tip'),
            lag: Json::optInt($d, 'lag'),
            latencyMs: Json::float($d, 'latency_ms'),
            requests: Json::int($d, 'requests'),
            errors: Json::int($d, 'errors'),
            lastError: Json::optStr($d, 'last_error'),
            unhealthyForSecs: Json::optInt($d, 'unhealthy_for_secs'),
            raw: $d,
        );
    }
}
