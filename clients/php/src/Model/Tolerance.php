<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * An invoice's underpayment tolerance.
 */
final class Tolerance
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $rule,
        public readonly string $amount,
        public readonly string $amountBase,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            rule: Json::str($d, 'rule'),
            amount: Json::str($d, 'amount'),
            amountBase: Json::str($d, 'amount_base'),
            raw: $d,
        );
    }
}
