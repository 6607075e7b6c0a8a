<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 422 transaction_not_for_invoice. */
class UnprocessableEntityException extends ApiException
{
}
