<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One change made to an invoice by hand.
 */
final class ManualAction
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $action,
        public readonly int $at,
        public readonly string $from,
        public readonly array $raw,
        public readonly ?string $by = null,
        public readonly ?string $note = null,
        public readonly ?string $txid = null,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            action: Json::str($d, 'action'),
            at: Json::int($d, 'at'),
            from: Json::str($d, 'from'),
            by: Json::optStr($d, 'by'),
            note: Json::optStr($d, 'note'),
            txid: Json::optStr($d, 'txid'),
            raw: $d,
        );
    }
}
