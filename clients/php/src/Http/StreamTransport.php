<?php

declare(strict_types=1);

namespace Paywatch\Http;

use Paywatch\Exception\ConnectionException;

/** HTTP with PHP's own http:// stream wrapper (no extension needed). */
final class StreamTransport implements Transport
{
    public function send(string $method, string $url, array $headers, ?string $body, float $timeout): Response
    {
        $lines = ['Connection: close'];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        if ($body === null && ($method === 'POST' || $method === 'PUT')) {
            $body = '';
        }
        if ($body !== null) {
            $lines[] = 'Content-Length: ' . strlen($body);
        }
        $options = [
            'method' => $method,
            'header' => implode("\r\n", $lines),
            'protocol_version' => 1.1,
            'ignore_errors' => true,
            'follow_location' => 0,
            'max_redirects' => 1,
            'timeout' => $timeout,
        ];
        if ($body !== null) {
            $options['content'] = $body;
        }
        $context = stream_context_create(['http' => $options]);

        $error = null;
        set_error_handler(static function (int $severity, string $message) use (&$error): bool {
            $error = $message;
            return true;
        });
        try {
            $stream = fopen($url, 'rb', false, $context);
            if ($stream === false) {
                throw new ConnectionException("{$method} {$url}: " . self::reason($error));
            }
            try {
                $meta = stream_get_meta_data($stream);
                $answer = stream_get_contents($stream);
                $after = stream_get_meta_data($stream);
            } finally {
                fclose($stream);
            }
        } finally {
            restore_error_handler();
        }
        if ($answer === false || !empty($after['timed_out'])) {
            $why = !empty($after['timed_out']) ? "timed out after {$timeout} s" : self::reason($error);
            throw new ConnectionException("{$method} {$url}: {$why}");
        }

        $status = 0;
        $received = [];
        foreach ($meta['wrapper_data'] ?? [] as $line) {
            if (!is_string($line)) {
                continue;
            }
            if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $m) === 1) {
                $status = (int) $m[1];
                $received = [];
                continue;
            }
            $parts = explode(':', $line, 2);
            if (count($parts) === 2) {
                $received[strtolower(trim($parts[0]))] = trim($parts[1]);
            }
        }
        if ($status === 0) {
            throw new ConnectionException("{$method} {$url}: no HTTP status in the answer");
        }
        return new Response($status, $received, $answer);
    }

    private static function reason(?string $error): string
    {
        if ($error === null) {
            return 'the request failed';
        }
        // "fopen(http://…): Failed to open stream: Connection refused" -> the part after the last ": "
        $pos = strrpos($error, ': ');
        return $pos === false ? $error : substr($error, $pos + 2);
    }
}
