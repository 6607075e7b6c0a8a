<?php

declare(strict_types=1);

/*
 * PSR-4 autoloading of the Paywatch\ namespace without Composer:
 *
 *     require __DIR__ . '/path/to/clients/php/autoload.php';
 *
 * With Composer, its own vendor/autoload.php does the same (composer.json).
 */

spl_autoload_register(static function (string $class): void {
    $prefix = 'Paywatch\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
