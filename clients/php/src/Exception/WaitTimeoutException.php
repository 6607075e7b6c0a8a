<?php

declare(strict_types=1);

namespace Paywatch\Exception;

use Paywatch\Model\Invoice;

/** Client::waitForInvoice() gave up; getInvoice() is the invoice as last read (null when unreadable). */
class WaitTimeoutException extends PaywatchException
{
    public function __construct(string $message, private readonly ?Invoice $invoice = null)
    {
        parent::__construct($message);
    }

    public function getInvoice(): ?Invoice
    {
        return $this->invoice;
    }
}
