<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 401 unauthorized: no API key, or one the daemon does not accept. */
class AuthenticationException extends ApiException
{
}
