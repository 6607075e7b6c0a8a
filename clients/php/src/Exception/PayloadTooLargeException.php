<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 413 payload_too_large. */
class PayloadTooLargeException extends ApiException
{
}
