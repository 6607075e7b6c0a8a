<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * The label and metadata of the watch a transfer matched, as they were then.
 */
final class WatchRef
{
    /**
     * @param array<string, mixed> $metadata
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly ?string $label,
        public readonly array $metadata,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            label: Json::optStr($d, 'label'),
            metadata: Json::arr($d, 'metadata'),
            raw: $d,
        );
    }
}
