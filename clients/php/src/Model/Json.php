<?php

declare(strict_types=1);

namespace Paywatch\Model;

use Paywatch\Exception\UnexpectedResponseException;

/**
 * Typed reads of decoded JSON objects, for the models' fromArray(). A
 * required key that is missing or of the wrong type is an
 * UnexpectedResponseException; optional ones are null when absent.
 *
 * @internal
 */
final class Json
{
    /** @param array<string, mixed> $d */
    public static function str(array $d, string $key): string
    {
        $v = self::req($d, $key);
        if (!is_string($v)) {
            throw self::bad($key, 'a string', $v);
        }
        return $v;
    }

    /** @param array<string, mixed> $d */
    public static function optStr(array $d, string $key): ?string
    {
        return array_key_exists($key, $d) && $d[$key] !== null ? self::str($d, $key) : null;
    }

    /** @param array<string, mixed> $d */
    public static function int(array $d, string $key): int
    {
        $v = self::req($d, $key);
        if (is_int($v)) {
            return $v;
        }
        // JSON_BIGINT_AS_STRING: an integer beyond PHP_INT_MAX arrives as a string.
        if (is_string($v) && preg_match('/\A[0-9]+\z/', $v) === 1) {
            throw new UnexpectedResponseException("`{$key}` ({$v}) does not fit in a PHP int");
        }
        throw self::bad($key, 'an integer', $v);
    }

    /** @param array<string, mixed> $d */
    public static function optInt(array $d, string $key): ?int
    {
        return array_key_exists($key, $d) && $d[$key] !== null ? self::int($d, $key) : null;
    }

    /** @param array<string, mixed> $d */
    public static function float(array $d, string $key): float
    {
        $v = self::req($d, $key);
        if (!is_int($v) && !is_float($v)) {
            throw self::bad($key, 'a number', $v);
        }
        return (float) $v;
    }

    /** @param array<string, mixed> $d */
    public static function optFloat(array $d, string $key): ?float
    {
        return array_key_exists($key, $d) && $d[$key] !== null ? self::float($d, $key) : null;
    }

    /** @param array<string, mixed> $d */
    public static function bool(array $d, string $key): bool
    {
        $v = self::req($d, $key);
        if (!is_bool($v)) {
            throw self::bad($key, 'a boolean', $v);
        }
        return $v;
    }

    /** @param array<string, mixed> $d */
    public static function optBool(array $d, string $key): ?bool
    {
        return array_key_exists($key, $d) && $d[$key] !== null ? self::bool($d, $key) : null;
    }

    /**
     * A JSON object or array (decoded as a PHP array).
     *
     * @param array<string, mixed> $d
     * @return array<mixed>
     */
    public static function arr(array $d, string $key): array
    {
        $v = self::req($d, $key);
        if (!is_array($v)) {
            throw self::bad($key, 'an object or array', $v);
        }
        return $v;
    }

    /**
     * @param array<string, mixed> $d
     * @return array<mixed>|null
     */
    public static function optArr(array $d, string $key): ?array
    {
        return array_key_exists($key, $d) && $d[$key] !== null ? self::arr($d, $key) : null;
    }

    /**
     * A list of objects, each made with $make.
     *
     * @template T
     * @param array<string, mixed> $d
     * @param callable(array<string, mixed>): T $make
     * @return list<T>
     */
    public static function list(array $d, string $key, callable $make): array
    {
        $out = [];
        foreach (self::arr($d, $key) as $item) {
            if (!is_array($item)) {
                throw self::bad($key . '[]', 'an object', $item);
            }
            $out[] = $make($item);
        }
        return $out;
    }

    /**
     * @template T
     * @param array<string, mixed> $d
     * @param callable(array<string, mixed>): T $make
     * @return list<T>|null
     */
    public static function optList(array $d, string $key, callable $make): ?array
    {
        return array_key_exists($key, $d) && $d[$key] !== null ? self::list($d, $key, $make) : null;
    }

    /**
     * @template T
     * @param array<string, mixed> $d
     * @param callable(array<string, mixed>): T $make
     * @return T|null
     */
    public static function optObj(array $d, string $key, callable $make): mixed
    {
        return array_key_exists($key, $d) && $d[$key] !== null ? $make(self::arr($d, $key)) : null;
    }

    /** @param array<string, mixed> $d */
    private static function req(array $d, string $key): mixed
    {
        if (!array_key_exists($key, $d)) {
            throw new UnexpectedResponseException("the answer has no `{$key}`");
        }
        return $d[$key];
    }

    private static function bad(string $key, string $wanted, mixed $value): UnexpectedResponseException
    {
        return new UnexpectedResponseException("`{$key}` is not {$wanted}: " . get_debug_type($value));
    }
}
