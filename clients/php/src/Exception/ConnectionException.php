<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** The daemon could not be reached, or the connection broke (refused, reset, timed out). */
class ConnectionException extends PaywatchException
{
}
