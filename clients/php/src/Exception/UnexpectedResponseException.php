<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** A success answer that is not what the API describes (not JSON, or a required field missing). */
class UnexpectedResponseException extends PaywatchException
{
}
