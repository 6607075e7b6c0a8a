<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 409: conflicts with the stored state (not_open, invoice_exists, watch_exists, not_dead, …). */
class ConflictException extends ApiException
{
}
