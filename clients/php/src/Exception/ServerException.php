<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 5xx: internal (the daemon's log says why), and other server errors. */
class ServerException extends ApiException
{
}
