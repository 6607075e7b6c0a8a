<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 404: not_found, unknown_chain, transaction_not_found. */
class NotFoundException extends ApiException
{
}
