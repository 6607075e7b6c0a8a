<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One incoming transfer counted towards an invoice; amount in base units.
 */
final class InvoicePayment
{
    /**
     * @param list<string>|null $flags
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $txid,
        public readonly int $index,
        public readonly string $amount,
        public readonly int $height,
        public readonly bool $confirmed,
        public readonly array $raw,
        public readonly ?bool $mempool = null,
        public readonly ?array $flags = null,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            txid: Json::str($d, 'txid'),
            index: Json::int($d, 'index'),
            amount: Json::str($d, 'amount'),
            height: Json::int($d, 'height'),
            confirmed: Json::bool($d, 'confirmed'),
            mempool: Json::optBool($d, 'mempool'),
            flags: Json::optArr($d, 'flags'),
            raw: $d,
        );
    }
}
