<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * What moved; contract is null for the chain's native coin.
 */
final class Asset
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $symbol,
        public readonly int $decimals,
        public readonly ?string $contract,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            symbol: Json::str($d, 'symbol'),
            decimals: Json::int($d, 'decimals'),
            contract: Json::optStr($d, 'contract'),
            raw: $d,
        );
    }
}
