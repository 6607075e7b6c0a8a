<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * An order the buyer pays on the network of its choice.
 */
final class Choice
{
    /**
     * @param list<ChoiceOption> $options
     * @param array<string, mixed> $metadata
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $id,
        public readonly string $kind,
        public readonly string $orderId,
        public readonly string $price,
        public readonly string $currency,
        public readonly string $status,
        public readonly ?string $paidBy,
        public readonly array $options,
        public readonly int $createdAt,
        public readonly int $expiresAt,
        public readonly array $metadata,
        public readonly array $raw,
        public readonly ?string $redirectUrl = null,
        public readonly ?string $underpaymentTolerance = null,
        public readonly ?string $rateAdjust = null,
        public readonly ?bool $holdFlagged = null,
        public readonly ?string $checkoutUrl = null,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            id: Json::str($d, 'id'),
            kind: Json::str($d, 'kind'),
            orderId: Json::str($d, 'order_id'),
            price: Json::str($d, 'price'),
            currency: Json::str($d, 'currency'),
            status: Json::str($d, 'status'),
            paidBy: Json::optStr($d, 'paid_by'),
            options: Json::list($d, 'options', [ChoiceOption::class, 'fromArray']),
            createdAt: Json::int($d, 'created_at'),
            expiresAt: Json::int($d, 'expires_at'),
            metadata: Json::arr($d, 'metadata'),
            redirectUrl: Json::optStr($d, 'redirect_url'),
            underpaymentTolerance: Json::optStr($d, 'underpayment_tolerance'),
            rateAdjust: Json::optStr($d, 'rate_adjust'),
            holdFlagged: Json::optBool($d, 'hold_flagged'),
            checkoutUrl: Json::optStr($d, 'checkout_url'),
            raw: $d,
        );
    }
}
