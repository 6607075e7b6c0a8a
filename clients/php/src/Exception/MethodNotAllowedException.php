<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 405 method_not_allowed. */
class MethodNotAllowedException extends ApiException
{
}
