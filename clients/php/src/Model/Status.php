<?php

declare(strict_types=1);

namespace Paywatch\Model;

/** GET /v1/status: the chains, the events feed, delivery and exchange rates. */
final class Status
{
    /**
     * @param list<ChainStatus> $chains
     * @param array<string, SinkStatus> $sinks per configured sink, by name
     * @param list<array<string, mixed>> $plugins per plugin: name, state, calls, failures, …
     * @param list<array<string, mixed>> $rates per exchange-rate pair: pair, rate, usable, error, sources
     * @param array<string, array{free: int, reserved: int}> $invoicePools
     * @param array<string, mixed> $raw
     */
    public function __construct(
        public readonly string $version,
        public readonly array $chains,
        /** The newest event's seq (0 before the first). */
        public readonly int $lastSeq,
        public readonly int $dispatchedSeq,
        public readonly array $sinks,
        public readonly array $plugins,
        public readonly array $rates,
        public readonly array $invoicePools,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        $delivery = Json::arr($d, 'delivery');
        $sinks = [];
        foreach (Json::arr($delivery, 'sinks') as $name => $sink) {
            $sinks[(string) $name] = SinkStatus::fromArray(is_array($sink) ? $sink : []);
        }
        return new self(
            version: Json::str($d, 'version'),
            chains: Json::list($d, 'chains', [ChainStatus::class, 'fromArray']),
            lastSeq: Json::int(Json::arr($d, 'events'), 'last_seq'),
            dispatchedSeq: Json::int($delivery, 'dispatched_seq'),
            sinks: $sinks,
            plugins: array_values(Json::arr($delivery, 'plugins')),
            rates: array_values(Json::arr($d, 'rates')),
            invoicePools: Json::optArr($d, 'invoice_pools') ?? [],
            raw: $d,
        );
    }

    /** The status of the chain named $name, or null. */
    public function chain(string $name): ?ChainStatus
    {
        foreach ($this->chains as $chain) {
            if ($chain->chain === $name) {
                return $chain;
            }
        }
        return null;
    }
}
