<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One chain's scanner.
 */
final class ChainStatus
{
    /**
     * @param list<EndpointStatus> $endpoints
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $chain,
        public readonly string $kind,
        public readonly string $network,
        public readonly string $state,
        public readonly ?int $nodeTip,
        public readonly ?int $indexedHeight,
        public readonly ?int $lag,
        public readonly ?float $syncedPercent,
        public readonly int $startHeight,
        public readonly float $blocksPerSecond,
        public readonly int $confirmations,
        public readonly int $decodeSkipped,
        public readonly int $rescans,
        public readonly ?string $lastError,
        public readonly array $endpoints,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            chain: Json::str($d, 'chain'),
            kind: Json::str($d, 'kind'),
            network: Json::str($d, 'network'),
            state: Json::str($d, 'state'),
            nodeTip: Json::optInt($d, 'node_tip'),
            indexedHeight: Json::optInt($d, 'indexed_height'),
            lag: Json::optInt($d, 'lag'),
            syncedPercent: Json::optFloat($d, 'synced_percent'),
            startHeight: Json::int($d, 'start_height'),
            blocksPerSecond: Json::float($d, 'blocks_per_second'),
            confirmations: Json::int($d, 'confirmations'),
            decodeSkipped: Json::int($d, 'decode_skipped'),
            rescans: Json::int($d, 'rescans'),
            lastError: Json::optStr($d, 'last_error'),
            endpoints: Json::list($d, 'endpoints', [EndpointStatus::class, 'fromArray']),
            raw: $d,
        );
    }
}
