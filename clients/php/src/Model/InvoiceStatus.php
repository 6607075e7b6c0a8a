<?php

declare(strict_types=1);

namespace Paywatch\Model;

/** The states of an invoice (Invoice::$status). Only PENDING and UNDERPAID are open. */
final class InvoiceStatus
{
    public const PENDING = 'pending';
    public const UNDERPAID = 'underpaid';
    public const PAID = 'paid';
    public const CONFIRMED = 'confirmed';
    public const EXPIRED = 'expired';
    public const PAID_LATE = 'paid_late';
    public const CANCELLED = 'cancelled';
    public const SETTLED = 'settled';
    public const INVALID = 'invalid';
    public const HELD = 'held';
    public const REJECTED = 'rejected';

    private function __construct()
    {
    }
}
