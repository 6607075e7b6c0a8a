<?php

declare(strict_types=1);

namespace Paywatch\Model;

/**
 * A payment request. amount, amountDue, paid, excess and amountShort are whole-unit decimal strings; amountDueBase is base units.
 */
final class Invoice
{
    /**
     * @param list<InvoicePayment> $payments
     * @param array<string, mixed> $metadata
     * @param list<ManualAction>|null $history
     * @param list<Refund>|null $refunds
     * @param array<string, mixed> $raw the JSON object as received, unknown fields included
     */
    public function __construct(
        public readonly string $id,
        public readonly string $chain,
        public readonly string $network,
        public readonly string $orderId,
        public readonly Asset $asset,
        public readonly string $amount,
        public readonly string $amountDue,
        public readonly string $amountDueBase,
        public readonly string $address,
        public readonly string $paymentUri,
        public readonly string $qrSvgUrl,
        public readonly int $createdAt,
        public readonly int $expiresAt,
        public readonly string $status,
        public readonly string $paid,
        public readonly array $payments,
        public readonly array $metadata,
        public readonly array $raw,
        public readonly ?int $derivationIndex = null,
        public readonly ?string $excess = null,
        public readonly ?string $closed = null,
        public readonly ?Tolerance $underpaymentTolerance = null,
        public readonly ?string $amountShort = null,
        public readonly ?int $confirmations = null,
        public readonly ?bool $pooled = null,
        public readonly ?array $history = null,
        public readonly ?string $choice = null,
        public readonly ?string $supersededBy = null,
        public readonly ?bool $holdFlagged = null,
        public readonly ?bool $released = null,
        public readonly ?array $refunds = null,
        public readonly ?int $amountReservedUntil = null,
        public readonly ?Pricing $pricing = null,
        public readonly ?string $redirectUrl = null,
        public readonly ?string $checkoutUrl = null,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(
            id: Json::str($d, 'id'),
            chain: Json::str($d, 'chain'),
            network: Json::str($d, 'network'),
            orderId: Json::str($d, 'order_id'),
            asset: Asset::fromArray(Json::arr($d, 'asset')),
            amount: Json::str($d, 'amount'),
            amountDue: Json::str($d, 'amount_due'),
            amountDueBase: Json::str($d, 'amount_due_base'),
            address: Json::str($d, 'address'),
            paymentUri: Json::str($d, 'payment_uri'),
            qrSvgUrl: Json::str($d, 'qr_svg_url'),
            createdAt: Json::int($d, 'created_at'),
            expiresAt: Json::int($d, 'expires_at'),
            status: Json::str($d, 'status'),
            paid: Json::str($d, 'paid'),
            payments: Json::list($d, 'payments', [InvoicePayment::class, 'fromArray']),
            metadata: Json::arr($d, 'metadata'),
            derivationIndex: Json::optInt($d, 'derivation_index'),
            excess: Json::optStr($d, 'excess'),
            closed: Json::optStr($d, 'closed'),
            underpaymentTolerance: Json::optObj($d, 'underpayment_tolerance', [Tolerance::class, 'fromArray']),
            amountShort: Json::optStr($d, 'amount_short'),
            confirmations: Json::optInt($d, 'confirmations'),
            pooled: Json::optBool($d, 'pooled'),
            history: Json::optList($d, 'history', [ManualAction::class, 'fromArray']),
            choice: Json::optStr($d, 'choice'),
            supersededBy: Json::optStr($d, 'superseded_by'),
            holdFlagged: Json::optBool($d, 'hold_flagged'),
            released: Json::optBool($d, 'released'),
            refunds: Json::optList($d, 'refunds', [Refund::class, 'fromArray']),
            amountReservedUntil: Json::optInt($d, 'amount_reserved_until'),
            pricing: Json::optObj($d, 'pricing', [Pricing::class, 'fromArray']),
            redirectUrl: Json::optStr($d, 'redirect_url'),
            checkoutUrl: Json::optStr($d, 'checkout_url'),
            raw: $d,
        );
    }

    /** pending or underpaid: still waiting for payment (and cancellable). */
    public function isOpen(): bool
    {
        return $this->status === InvoiceStatus::PENDING || $this->status === InvoiceStatus::UNDERPAID;
    }
}
