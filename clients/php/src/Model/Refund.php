<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * A refund paywatch prepared and follows.
 */
final class Refund
{
    /**
     * @param list<string> $from
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $id,
        public readonly string $status,
        public readonly string $amount,
        public readonly string $amountBase,
        public readonly string $address,
        public readonly array $from,
        public readonly string $paymentUri,
        public readonly string $qrSvgUrl,
        public readonly int $createdAt,
        public readonly array $raw,
        public readonly ?string $by = null,
        public readonly ?string $note = null,
        public readonly ?string $txid = null,
        public readonly ?int $index = null,
        public readonly ?int $height = null,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            id: Json::str($d, 'id'),
            status: Json::str($d, 'status'),
            amount: Json::str($d, 'amount'),
            amountBase: Json::str($d, 'amount_base'),
            address: Json::str($d, 'address'),
            from: Json::arr($d, 'from'),
            paymentUri: Json::str($d, 'payment_uri'),
            qrSvgUrl: Json::str($d, 'qr_svg_url'),
            createdAt: Json::int($d, 'created_at'),
            by: Json::optStr($d, 'by'),
            note: Json::optStr($d, 'note'),
            txid: Json::optStr($d, 'txid'),
            index: Json::optInt($d, 'index'),
            height: Json::optInt($d, 'height'),
            raw: $d,
        );
    }
}
