<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One page of invoices; pass next back as after.
 */
final class InvoicePage
{
    /**
     * @param list<Invoice> $invoices
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly array $invoices,
        public readonly ?string $next,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            invoices: Json::list($d, 'invoices', [Invoice::class, 'fromArray']),
            next: Json::optStr($d, 'next'),
            raw: $d,
        );
    }
}
