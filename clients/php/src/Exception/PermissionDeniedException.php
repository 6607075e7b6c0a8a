<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 403 forbidden: a read key on a request that changes state. */
class PermissionDeniedException extends ApiException
{
}
