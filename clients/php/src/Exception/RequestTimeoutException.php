<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 408 body_timeout: the request body did not arrive in time. */
class RequestTimeoutException extends ApiException
{
}
