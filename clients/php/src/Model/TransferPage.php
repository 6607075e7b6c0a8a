<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * One page of transfers; pass nextCursor back as cursor.
 */
final class TransferPage
{
    /**
     * @param list<Transfer> $transfers
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly array $transfers,
        public readonly ?string $nextCursor,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            transfers: Json::list($d, 'transfers', [Transfer::class, 'fromArray']),
            nextCursor: Json::optStr($d, 'next_cursor'),
            raw: $d,
        );
    }
}
