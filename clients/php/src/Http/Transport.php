<?php

declare(strict_types=1);

namespace Paywatch\Http;

use Paywatch\Exception\ConnectionException;

/**
 * Sends one HTTP request. Implementations must not follow redirects, must
 * return error answers (4xx, 5xx) as responses, and throw
 * ConnectionException when no answer arrives.
 */
interface Transport
{
    /**
     * @param array<string, string> $headers
     * @throws ConnectionException
     */
    public function send(string $method, string $url, array $headers, ?string $body, float $timeout): Response;
}
