<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/** 400: the request is invalid (the error code says how). */
class BadRequestException extends ApiException
{
}
