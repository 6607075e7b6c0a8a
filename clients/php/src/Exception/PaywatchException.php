<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** The base of every exception this package throws. */
class PaywatchException extends \RuntimeException
{
}
