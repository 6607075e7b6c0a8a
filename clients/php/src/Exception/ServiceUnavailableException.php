<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 503: rate_unavailable, stopping, metrics_unavailable. */
class ServiceUnavailableException extends ServerException
{
}
