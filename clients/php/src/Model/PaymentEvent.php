<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * A transfer of a watched address was detected, confirmed or reorged out
 * (or, from a Bitcoin mempool, replaced, double-spent or dropped). amount is
 * in base units; block is null for a mempool event.
 */
final class PaymentEvent extends Event
{
    /**
     * @param array<string, mixed> $raw
     * @param list<string>|null $riskFlags
     * @param array<string, mixed>|null $mempool
     */
    public function __construct(
        string $id,
        string $type,
        int $seq,
        string $chain,
        string $network,
        array $raw,
        public readonly string $direction,
        public readonly string $address,
        public readonly string $txid,
        public readonly int $index,
        public readonly int $confirmations,
        public readonly Asset $asset,
        public readonly string $amount,
        public readonly WatchRef $watch,
        public readonly ?BlockRef $block = null,
        public readonly ?string $counterparty = null,
        public readonly ?array $riskFlags = null,
        public readonly ?string $status = null,
        public readonly ?array $mempool = null,
        public readonly ?string $replacedBy = null,
        public readonly ?bool $outputKept = null,
        public readonly ?string $conflictingTxid = null,
    ) {
        parent::__construct($id, $type, $seq, $chain, $network, $raw);
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            id: Json::str($d, 'id'),
            type: Json::str($d, 'type'),
            seq: Json::int($d, 'seq'),
            chain: Json::str($d, 'chain'),
            network: Json::str($d, 'network'),
            raw: $d,
            direction: Json::str($d, 'direction'),
            address: Json::str($d, 'address'),
            txid: Json::str($d, 'txid'),
            index: Json::int($d, 'index'),
            confirmations: Json::int($d, 'confirmations'),
            asset: Asset::fromArray(Json::arr($d, 'asset')),
            amount: Json::str($d, 'amount'),
            watch: WatchRef::fromArray(Json::arr($d, 'watch')),
            block: Json::optObj($d, 'block', [BlockRef::class, 'fromArray']),
            counterparty: Json::optStr($d, 'counterparty'),
            riskFlags: Json::optObj($d, 'risk', static fn (array $r): array => Json::arr($r, 'flags')),
            status: Json::optStr($d, 'status'),
            mempool: Json::optArr($d, 'mempool'),
            replacedBy: Json::optStr($d, 'replaced_by'),
            outputKept: Json::optBool($d, 'output_kept'),
            conflictingTxid: Json::optStr($d, 'conflicting_txid'),
        );
    }
}
