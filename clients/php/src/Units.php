<?php

declare(strict_types=1);

namespace Paywatch;

/**
 * Exact conversions between base units and whole units, on strings (no
 * floats, no bcmath or gmp needed):
 *
 *     Units::format('125500000', 6); // '125.5'
 *     Units::parse('125.5', 6);      // '125500000'
 */
final class Units
{
    /** Base units as a whole-unit decimal without trailing zeros. */
    public static function format(string|int $base, int $decimals): string
    {
        $digits = is_int($base) ? (string) $base : $base;
        if (preg_match('/\A[0-9]+\z/', $digits) !== 1) {
            throw new \InvalidArgumentException('not a non-negative integer: ' . var_export($base, true));
        }
        self::checkDecimals($decimals);
        $digits = ltrim($digits, '0');
        if ($digits === '') {
            $digits = '0';
        }
        if ($decimals === 0) {
            return $digits;
        }
        $digits = str_pad($digits, $decimals + 1, '0', STR_PAD_LEFT);
        $whole = substr($digits, 0, -$decimals);
        $frac = rtrim(substr($digits, -$decimals), '0');
        return $frac === '' ? $whole : $whole . '.' . $frac;
    }

    /**
     * A whole-unit decimal as base units. More decimal places than $decimals
     * (other than trailing zeros) is an InvalidArgumentException, never a rounding.
     */
    public static function parse(string|int $amount, int $decimals): string
    {
        $text = trim(self::money($amount));
        self::checkDecimals($decimals);
        if (preg_match('/\A([0-9]+)(?:\.([0-9]+))?\z/', $text, $m) !== 1) {
            throw new \InvalidArgumentException('not a non-negative decimal: ' . var_export($amount, true));
        }
        $frac = rtrim($m[2] ?? '', '0');
        if (strlen($frac) > $decimals) {
            throw new \InvalidArgumentException("{$text} has more than {$decimals} decimal places");
        }
        $out = ltrim($m[1] . str_pad($frac, $decimals, '0'), '0');
        return $out === '' ? '0' : $out;
    }

    /**
     * An amount as the decimal string the API takes: a string passes as it is
     * (the daemon checks it), an int is written out. Anything else, a float
     * above all, is refused: binary floats cannot hold most decimal amounts.
     */
    public static function money(mixed $value, string $name = 'amount'): string
    {
        if (is_string($value)) {
            return $value;
        }
        if (is_int($value)) {
            if ($value < 0) {
                throw new \InvalidArgumentException("{$name} must not be negative");
            }
            return (string) $value;
        }
        throw new \TypeError("{$name} must be a decimal string (or an int), not " . get_debug_type($value));
    }

    private static function checkDecimals(int $decimals): void
    {
        if ($decimals < 0 || $decimals > 255) {
            throw new \InvalidArgumentException("decimals must be 0 to 255, not {$decimals}");
        }
    }
}
