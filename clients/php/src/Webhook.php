<?php

declare(strict_types=1);

namespace Paywatch;

use Paywatch\Exception\WebhookVerificationException;
use Paywatch\Model\Event;

/**
 * Verifying paywatch's webhook requests.
 *
 * paywatch signs each request: `Paywatch-Signature: v1=<hex>`, the lower-case
 * hex HMAC-SHA256 of `timestamp . "." . body` keyed with the sink's secret,
 * where timestamp is the `Paywatch-Timestamp` header (Unix seconds). Check
 * every request before acting on it, on the raw body:
 *
 *     try {
 *         $event = Webhook::constructEventFromGlobals($secret);
 *     } catch (WebhookVerificationException) {
 *         http_response_code(401); // paywatch retries; do not act on the body
 *         exit;
 *     }
 *     // deduplicate by $event->id: delivery is at-least-once
 *     http_response_code(204);
 *
 * The comparison is constant-time (hash_equals), and a timestamp more than
 * $tolerance seconds (default 300) from the local clock is refused, so a
 * captured request cannot be replayed later.
 */
final class Webhook
{
    public const SIGNATURE_HEADER = 'Paywatch-Signature';
    public const TIMESTAMP_HEADER = 'Paywatch-Timestamp';
    public const EVENT_ID_HEADER = 'Paywatch-Event-Id';
    public const DELIVERY_ID_HEADER = 'Paywatch-Delivery-Id';
    public const ATTEMPT_HEADER = 'Paywatch-Attempt';
    /** Seconds a request's timestamp may be away from the local clock. */
    public const DEFAULT_TOLERANCE = 300;

    private function __construct()
    {
    }

    /**
     * Checks one request; returns when it is authentic and fresh, else throws
     * WebhookVerificationException (whose getReason() says why).
     *
     * $secret is the sink's secret, or a list of secrets while one is being
     * rotated (a signature made with any of them is accepted). $body is the
     * raw request body. $tolerance null skips the clock check (tests only);
     * $now replaces the clock (Unix seconds).
     *
     * @param string|list<string> $secret
     */
    public static function verifySignature(
        string|array $secret,
        ?string $timestamp,
        string $body,
        ?string $signature,
        ?int $tolerance = self::DEFAULT_TOLERANCE,
        ?int $now = null,
    ): void {
        if ($signature === null) {
            throw new WebhookVerificationException('missing_header', 'no ' . self::SIGNATURE_HEADER . ' header');
        }
        if ($timestamp === null) {
            throw new WebhookVerificationException('missing_header', 'no ' . self::TIMESTAMP_HEADER . ' header');
        }
        if (strncmp($signature, 'v1=', 3) !== 0 || preg_match('/\A[0-9a-f]{64}\z/', substr($signature, 3)) !== 1) {
            throw new WebhookVerificationException('malformed_signature', self::SIGNATURE_HEADER . ' is not of the form v1=<hex>');
        }
        if (preg_match('/\A[0-9]{1,15}\z/', $timestamp) !== 1) {
            throw new WebhookVerificationException('malformed_timestamp', self::TIMESTAMP_HEADER . ' is not Unix seconds');
        }
        if ($tolerance !== null && abs(($now ?? time()) - (int) $timestamp) > $tolerance) {
            throw new WebhookVerificationException(
                'timestamp_out_of_tolerance',
                self::TIMESTAMP_HEADER . " is more than {$tolerance} s from the local clock",
            );
        }
        $given = substr($signature, 3);
        $matched = false;
        foreach (self::secrets($secret) as $key) {
            $expected = hash_hmac('sha256', $timestamp . '.' . $body, $key);
            // Every secret is compared, in constant time, whatever matched before.
            $matched = hash_equals($expected, $given) || $matched;
        }
        if (!$matched) {
            throw new WebhookVerificationException('signature_mismatch', 'the signature does not match the body');
        }
    }

    /**
     * verifySignature() as a boolean.
     *
     * @param string|list<string> $secret
     */
    public static function isValidSignature(
        string|array $secret,
        ?string $timestamp,
        string $body,
        ?string $signature,
        ?int $tolerance = self::DEFAULT_TOLERANCE,
        ?int $now = null,
    ): bool {
        try {
            self::verifySignature($secret, $timestamp, $body, $signature, $tolerance, $now);
            return true;
        } catch (WebhookVerificationException) {
            return false;
        }
    }

    /** The Paywatch-Signature value paywatch would send (v1=<hex>); useful to test a receiver. */
    public static function sign(string $secret, string|int $timestamp, string $body): string
    {
        return 'v1=' . hash_hmac('sha256', $timestamp . '.' . $body, $secret);
    }

    /**
     * Verifies a request and returns its event (a PaymentEvent, InvoiceEvent, …).
     * $headers maps header names (any case) to values, as getallheaders() or a
     * PSR-7 request's getHeaders() give them, or is $_SERVER (HTTP_PAYWATCH_…).
     * When a plugin chose the body it is not an event: use verifySignature()
     * and decode it yourself.
     *
     * @param array<string, string|list<string>> $headers
     * @param string|list<string> $secret
     */
    public static function constructEvent(
        string $body,
        array $headers,
        string|array $secret,
        ?int $tolerance = self::DEFAULT_TOLERANCE,
        ?int $now = null,
    ): Event {
        self::verifySignature(
            $secret,
            self::header($headers, self::TIMESTAMP_HEADER),
            $body,
            self::header($headers, self::SIGNATURE_HEADER),
            $tolerance,
            $now,
        );
        try {
            $data = json_decode($body, true, 512, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
            if (!is_array($data)) {
                throw new \UnexpectedValueException('not a JSON object');
            }
            return Event::fromArray($data);
        } catch (\Throwable $e) {
            throw new WebhookVerificationException('invalid_body', 'the signed body is not a paywatch event: ' . $e->getMessage());
        }
    }

    /**
     * constructEvent() on the current request: the body from php://input, the
     * headers from $_SERVER.
     *
     * @param string|list<string> $secret
     */
    public static function constructEventFromGlobals(string|array $secret, ?int $tolerance = self::DEFAULT_TOLERANCE): Event
    {
        $body = file_get_contents('php://input');
        return self::constructEvent($body === false ? '' : $body, $_SERVER, $secret, $tolerance);
    }

    /**
     * A header's value, its name matched without regard to case; also finds
     * $_SERVER's HTTP_… keys.
     *
     * @param array<string, mixed> $headers
     */
    public static function header(array $headers, string $name): ?string
    {
        $server = 'HTTP_' . strtoupper(str_replace('-', '_', $name));
        $wanted = strtolower($name);
        foreach ($headers as $key => $value) {
            $key = (string) $key;
            if (strtolower($key) !== $wanted && $key !== $server) {
                continue;
            }
            if (is_array($value)) {
                $value = $value[0] ?? null;
            }
            return $value === null ? null : (string) $value;
        }
        return null;
    }

    /**
     * @param string|list<string> $secret
     * @return list<string>
     */
    private static function secrets(string|array $secret): array
    {
        $keys = is_string($secret) ? [$secret] : array_values($secret);
        if ($keys === []) {
            throw new \InvalidArgumentException('the webhook secret must not be empty');
        }
        foreach ($keys as $key) {
            if (!is_string($key) || $key === '') {
                throw new \InvalidArgumentException('the webhook secret must not be empty');
            }
        }
        return $keys;
    }
}
