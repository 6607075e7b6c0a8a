<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One option of a choice; invoice is null until it is chosen.
 */
final class ChoiceOption
{
    /**
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $chain,
        public readonly string $asset,
        public readonly string $network,
        public readonly Invoice $invoice,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            chain: Json::str($d, 'chain'),
            asset: Json::str($d, 'asset'),
            network: Json::str($d, 'network'),
            invoice: Invoice::fromArray(Json::arr($d, 'invoice')),
            raw: $d,
        );
    }
}
