<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/**
 * A webhook request failed verification; do not act on its body. getReason()
 * is one of missing_header, malformed_signature, malformed_timestamp,
 * timestamp_out_of_tolerance, signature_mismatch, invalid_body.
 */
class WebhookVerificationException extends PaywatchException
{
    public function __construct(private readonly string $reason, string $message)
    {
        parent::__construct($message);
    }

    public function getReason(): string
    {
        return $this->reason;
    }
}
