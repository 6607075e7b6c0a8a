<?php

/*
 * End-to-end test of the paywatch PHP SDK against a running daemon.
 *
 * clients/run-e2e.sh sets everything up and runs this file; to run it by
 * hand against your own setup:
 *
 *     php clients/php/tests/e2e.php
 *
 * Environment (all set by clients/run-e2e.sh):
 *
 *   PAYWATCH_URL             the daemon's API, e.g. http://127.0.0.1:8480
 *   PAYWATCH_API_KEY         an API key of scope `write`
 *   PAYWATCH_READ_API_KEY    (optional) a key of scope `read`: a write with it must be 403
 *   ANVIL_URL                the Anvil JSON-RPC URL of the chain paywatch follows
 *   PAYWATCH_TOKEN           the ERC-20 contract paywatch knows as PAYWATCH_ASSET
 *   PAYWATCH_WEBHOOK_SECRET  the secret of the webhook sink PAYWATCH_SINK
 *   PAYWATCH_WEBHOOK_DIR     where the capturing receiver writes each request it
 *                            gets (NNNNNN.json: {"headers", "body_b64"}; see
 *                            clients/e2e/webhook_capture.py)
 *   PAYWATCH_RESTART_CMD     a shell command that restarts the daemon (same config
 *                            and data dir), pausing a moment while it is down,
 *                            and returns once /v1/status answers
 *   PAYWATCH_CHAIN           (default eth) the Anvil chain's name in paywatch
 *   PAYWATCH_ASSET           (default PWT) the token's symbol in paywatch
 *   PAYWATCH_SINK            (default capture) the sink that posts to the receiver
 *   PAYWATCH_DEAD_SINK       (default deadend) a sink whose deliveries go dead at once
 *
 * The package is loaded through its autoload.php (no Composer needed). The
 * steps run in order and share state: status and auth, API errors, watches,
 * an invoice paid on Anvil and waited for, transfers, the signed webhook,
 * deliveries, cancelling, and the events iterator across a daemon restart.
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use Paywatch\Client;
use Paywatch\ErrorCode;
use Paywatch\Exception\ApiException;
use Paywatch\Exception\AuthenticationException;
use Paywatch\Exception\BadRequestException;
use Paywatch\Exception\ConflictException;
use Paywatch\Exception\ConnectionException;
use Paywatch\Exception\NotFoundException;
use Paywatch\Exception\PermissionDeniedException;
use Paywatch\Exception\WaitTimeoutException;
use Paywatch\Exception\WebhookVerificationException;
use Paywatch\Http\CurlTransport;
use Paywatch\Http\StreamTransport;
use Paywatch\Model\Event;
use Paywatch\Model\Invoice;
use Paywatch\Model\InvoiceEvent;
use Paywatch\Model\PaymentEvent;
use Paywatch\Units;
use Paywatch\Webhook;

$env = static fn (string $name, string $default = ''): string => ($v = getenv($name)) === false ? $default : $v;
$URL = $env('PAYWATCH_URL');
$API_KEY = $env('PAYWATCH_API_KEY');
$READ_API_KEY = $env('PAYWATCH_READ_API_KEY');
$ANVIL_URL = $env('ANVIL_URL');
$TOKEN = $env('PAYWATCH_TOKEN');
$WEBHOOK_SECRET = $env('PAYWATCH_WEBHOOK_SECRET');
$WEBHOOK_DIR = $env('PAYWATCH_WEBHOOK_DIR');
$RESTART_CMD = $env('PAYWATCH_RESTART_CMD');
$CHAIN = $env('PAYWATCH_CHAIN', 'eth');
$ASSET = $env('PAYWATCH_ASSET', 'PWT');
$SINK = $env('PAYWATCH_SINK', 'capture');
$DEAD_SINK = $env('PAYWATCH_DEAD_SINK', 'deadend');

const WAIT = 45.0; // seconds for anything the daemon does on its own
const NO_INVOICE = 'inv_00000000000000000000000000aa';
$RUN = bin2hex(random_bytes(4)); // keeps order ids apart between runs

$missing = [];
foreach (['PAYWATCH_URL', 'PAYWATCH_API_KEY', 'ANVIL_URL', 'PAYWATCH_TOKEN', 'PAYWATCH_WEBHOOK_SECRET', 'PAYWATCH_WEBHOOK_DIR', 'PAYWATCH_RESTART_CMD'] as $name) {
    if ($env($name) === '') {
        $missing[] = $name;
    }
}
if ($missing !== []) {
    fwrite(STDERR, 'set ' . implode(', ', $missing) . " (clients/run-e2e.sh does)\n");
    exit(2);
}

// --- a tiny harness ---------------------------------------------------------------------

final class Failed extends \Exception
{
}

function check(bool $condition, string $what): void
{
    if (!$condition) {
        throw new Failed($what);
    }
}

function same(mixed $expected, mixed $actual, string $what): void
{
    if ($expected !== $actual) {
        throw new Failed($what . ': expected ' . var_export($expected, true) . ', got ' . var_export($actual, true));
    }
}

/**
 * Runs $fn, which must throw $class (and, for an ApiException, have $code).
 *
 * @template T of \Throwable
 * @param class-string<T> $class
 * @return T
 */
function throws(callable $fn, string $class, ?string $code = null): \Throwable
{
    try {
        $fn();
    } catch (\Throwable $e) {
        if (!$e instanceof $class) {
            throw new Failed("expected {$class}, got " . get_class($e) . ': ' . $e->getMessage());
        }
        if ($code !== null) {
            same($code, $e instanceof ApiException ? $e->getErrorCode() : $e->getReason(), 'the error code');
        }
        return $e;
    }
    throw new Failed("expected {$class}, nothing was thrown");
}

function until(string $what, callable $check, float $timeout = WAIT): mixed
{
    $deadline = microtime(true) + $timeout;
    while (true) {
        $found = $check();
        if ($found) {
            return $found;
        }
        if (microtime(true) > $deadline) {
            throw new Failed("{$what}: not within {$timeout} s");
        }
        usleep(200_000);
    }
}

$steps = [];
function step(string $name, callable $fn): void
{
    global $steps;
    $steps[] = [$name, $fn];
}

// --- Anvil --------------------------------------------------------------------------------

function rpc(string $method, array $params): mixed
{
    global $ANVIL_URL;
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: application/json\r\nConnection: close",
        'content' => json_encode(['jsonrpc' => '2.0', 'id' => 1, 'method' => $method, 'params' => $params], JSON_THROW_ON_ERROR),
        'timeout' => 10,
    ]]);
    $answer = json_decode((string) file_get_contents($ANVIL_URL, false, $context), true, 512, JSON_THROW_ON_ERROR);
    if (isset($answer['error'])) {
        throw new \RuntimeException("{$method}: " . json_encode($answer['error']));
    }
    return $answer['result'];
}

function mine(int $blocks): void
{
    rpc('anvil_mine', ['0x' . dechex($blocks)]);
}

/** A base-unit integer string as 64 hex digits, without bcmath or gmp. */
function uint256Hex(string $decimal): string
{
    $hex = '';
    while ($decimal !== '0') {
        $quotient = '';
        $remainder = 0;
        foreach (str_split($decimal) as $digit) {
            $remainder = $remainder * 10 + (int) $digit;
            $quotient .= (string) intdiv($remainder, 16);
            $remainder %= 16;
        }
        $hex = dechex($remainder) . $hex;
        $decimal = ltrim($quotient, '0') ?: '0';
    }
    return str_pad($hex, 64, '0', STR_PAD_LEFT);
}

/** Sends $baseUnits of the token from Anvil's first account with transfer(address,uint256); mines it. */
function payToken(string $to, string $baseUnits): string
{
    global $TOKEN;
    $payer = rpc('eth_accounts', [])[0];
    $data = '0xa9059cbb' . str_pad(strtolower(substr($to, 2)), 64, '0', STR_PAD_LEFT) . uint256Hex($baseUnits);
    $txid = rpc('eth_sendTransaction', [['from' => $payer, 'to' => $TOKEN, 'data' => $data]]);
    mine(1);
    $receipt = rpc('eth_getTransactionReceipt', [$txid]);
    same('0x1', $receipt['status'] ?? null, "the token transfer {$txid}");
    return $txid;
}

// --- the receiver's captures ----------------------------------------------------------------

/** @return list<array{headers: array<string, string>, body: string}> */
function capturedWebhooks(): array
{
    global $WEBHOOK_DIR;
    $files = glob($WEBHOOK_DIR . '/*.json') ?: [];
    sort($files);
    $out = [];
    foreach ($files as $file) {
        $record = json_decode((string) file_get_contents($file), true, 512, JSON_THROW_ON_ERROR);
        $out[] = ['headers' => $record['headers'], 'body' => base64_decode($record['body_b64'], true)];
    }
    return $out;
}

/**
 * The headers with some replaced, names matched without regard to case.
 *
 * @param array<string, string> $headers
 * @param array<string, string> $replacements
 * @return array<string, string>
 */
function withHeaders(array $headers, array $replacements): array
{
    $names = array_map('strtolower', array_keys($replacements));
    $kept = array_filter($headers, static fn (string $name): bool => !in_array(strtolower($name), $names, true), ARRAY_FILTER_USE_KEY);
    return $kept + $replacements;
}

$client = new Client($URL, apiKey: $API_KEY, timeout: 20.0);
$state = [];

// --- status, auth, errors ------------------------------------------------------------------

step('status and auth', function () use ($client, $URL, $CHAIN, $SINK, $READ_API_KEY, &$state): void {
    check($client->health(), 'health');
    $status = $client->getStatus();
    $chain = $status->chain($CHAIN);
    check($chain !== null, "no chain {$CHAIN} in /v1/status");
    same('evm', $chain->kind, 'the chain kind');
    check(isset($status->sinks[$SINK]), "no sink {$SINK} in /v1/status");
    $state['confirmations'] = $chain->confirmations;
    $state['startSeq'] = $status->lastSeq;

    $e = throws(fn () => (new Client($URL, apiKey: 'not-a-key'))->getStatus(), AuthenticationException::class, 'unauthorized');
    same(401, $e->getStatus(), 'the status');
    throws(fn () => (new Client($URL))->listInvoices(), AuthenticationException::class, ErrorCode::UNAUTHORIZED);
    if ($READ_API_KEY !== '') {
        $reader = new Client($URL, apiKey: $READ_API_KEY);
        $reader->getStatus();
        throws(fn () => $reader->cancelInvoice(NO_INVOICE), PermissionDeniedException::class, ErrorCode::FORBIDDEN);
    }
});

step('API errors are typed, with the API code', function () use ($client, $URL, $API_KEY, $CHAIN, $ASSET, $RUN): void {
    $e = throws(fn () => $client->getInvoice(NO_INVOICE), NotFoundException::class, 'not_found');
    check($e instanceof ApiException, 'an ApiException');
    same(404, $e->getStatus(), 'the status');
    same(404, $e->getCode(), 'getCode()');
    check($e->getApiMessage() !== '', 'a message');

    throws(fn () => $client->listInvoices(limit: 0), BadRequestException::class, 'invalid_parameter');
    throws(fn () => $client->listEvents(wait: 61), BadRequestException::class, 'invalid_parameter');
    throws(fn () => $client->createInvoice($CHAIN, $ASSET, "php-{$RUN}-bad", amount: '1.0000001'), BadRequestException::class, 'invalid_amount');
    throws(fn () => $client->createInvoice('no-such-chain', $ASSET, "php-{$RUN}-bad", amount: '1'), NotFoundException::class, 'unknown_chain');
    // Money is never a float: refused before any request is made.
    throws(fn () => $client->createInvoice($CHAIN, $ASSET, "php-{$RUN}-float", amount: 12.5), \TypeError::class);
    // A daemon that is not there is a connection error, not an API error.
    throws(fn () => (new Client('http://127.0.0.1:9', timeout: 2.0))->health(), ConnectionException::class);

    // Both HTTP transports (curl only when the extension is loaded).
    $transports = ['stream' => new StreamTransport()];
    if (extension_loaded('curl')) {
        $transports['curl'] = new CurlTransport();
    }
    foreach ($transports as $name => $transport) {
        $other = new Client($URL, apiKey: $API_KEY, transport: $transport);
        check($other->getStatus()->version !== '', "{$name}: status");
        throws(fn () => $other->getInvoice(NO_INVOICE), NotFoundException::class, 'not_found');
        throws(fn () => $other->cancelInvoice(NO_INVOICE), NotFoundException::class, 'not_found');
        $page = $other->listEvents(after: PHP_INT_MAX >> 1, wait: 1);
        same([], $page->events, "{$name}: a long poll past the end");
        throws(fn () => (new Client('http://127.0.0.1:9', timeout: 2.0, transport: $transport))->health(), ConnectionException::class);
    }
    fwrite(STDERR, '    transports: ' . implode(', ', array_keys($transports)) . ' (default ' . get_class($client->getTransport()) . ")\n");
});

// --- watches ---------------------------------------------------------------------------------

step('watches, one and in bulk', function () use ($client, $CHAIN, $RUN): void {
    $address = '0x' . bin2hex(random_bytes(20));
    $watch = $client->addWatch($CHAIN, $address, label: "php-{$RUN}", metadata: ['customer' => 7]);
    same($address, strtolower($watch->address), 'the address');
    same("php-{$RUN}", $watch->label, 'the label');
    same(['customer' => 7], $watch->metadata, 'the metadata');
    $again = $client->addWatch($CHAIN, $address, label: "php-{$RUN}", metadata: ['customer' => 7]);
    same($watch->createdAt, $again->createdAt, 'the same watch');
    $e = throws(fn () => $client->addWatch($CHAIN, $address, label: 'another label'), ConflictException::class, 'watch_exists');
    same("php-{$RUN}", $e->getDetails()['label'] ?? null, 'the stored watch in details');
    same("php-{$RUN}", $client->getWatch($CHAIN, $watch->address)->label, 'getWatch');

    $bulk = [];
    for ($i = 0; $i < 3; $i++) {
        $bulk[] = ['chain' => $CHAIN, 'address' => '0x' . bin2hex(random_bytes(20)), 'label' => "php-bulk-{$i}", 'metadata' => []];
    }
    $bulk[] = ['chain' => $CHAIN, 'address' => $watch->address];
    $result = $client->addWatches($bulk);
    same([3, 1], [$result->created, $result->existing], 'created and existing');
    $e = throws(
        fn () => $client->addWatches([['chain' => $CHAIN, 'address' => '0x' . bin2hex(random_bytes(20))], ['chain' => $CHAIN, 'address' => 'nope']]),
        BadRequestException::class,
        'invalid_batch',
    );
    same([2], array_column($e->getDetails(), 'item'), 'the bad items');

    check($client->deleteWatch($CHAIN, $watch->address)->deleted, 'deleted');
    throws(fn () => $client->getWatch($CHAIN, $watch->address), NotFoundException::class, 'not_found');
});

// --- an invoice, paid on Anvil -----------------------------------------------------------------

step('an invoice for order 42, paid on Anvil and confirmed', function () use ($client, $CHAIN, $ASSET, $TOKEN, $RUN, &$state): void {
    $orderId = "php-42-{$RUN}";
    $invoice = $client->createInvoice($CHAIN, $ASSET, $orderId, amount: '12.34', metadata: ['order' => 42]);
    same('pending', $invoice->status, 'the status');
    check($invoice->isOpen(), 'open');
    same(['12.34', '12.34', '0'], [$invoice->amount, $invoice->amountDue, $invoice->paid], 'the amounts');
    same(Units::parse('12.34', $invoice->asset->decimals), $invoice->amountDueBase, 'amount_due_base');
    same($ASSET, $invoice->asset->symbol, 'the asset');
    same(strtolower($TOKEN), strtolower((string) $invoice->asset->contract), 'the contract');
    same(['order' => 42], $invoice->metadata, 'the metadata');

    // The same order again is the stored invoice; another amount is a conflict.
    same($invoice->id, $client->createInvoice($CHAIN, $ASSET, $orderId, amount: '12.340')->id, 'the idempotent create');
    throws(fn () => $client->createInvoice($CHAIN, $ASSET, $orderId, amount: 13), ConflictException::class, 'invoice_exists');

    $fetched = $client->getInvoice($invoice->id);
    check($fetched instanceof Invoice, 'an Invoice');
    same($invoice->address, $fetched->address, 'the address');
    $listed = $client->listInvoices(chain: $CHAIN, orderId: $orderId);
    same([$invoice->id], array_map(fn (Invoice $i) => $i->id, $listed->invoices), 'listInvoices');
    $pending = [];
    foreach ($client->iterateInvoices(status: 'pending', limit: 2) as $i) {
        $pending[] = $i->id;
    }
    check(in_array($invoice->id, $pending, true), 'iterateInvoices');
    check(str_starts_with(ltrim($client->invoiceQrSvg($invoice->id)), '<'), 'the QR code');

    $txid = payToken($invoice->address, $invoice->amountDueBase);
    $paid = $client->waitForInvoice($invoice->id, ['paid', 'confirmed'], timeout: WAIT, pollInterval: 0.2);
    same('12.34', $paid->paid, 'paid');
    mine($state['confirmations'] - 1);
    $confirmed = $client->waitForInvoice($invoice->id, 'confirmed', timeout: WAIT, pollInterval: 0.2);
    same('confirmed', $confirmed->status, 'the status');
    check(!$confirmed->isOpen(), 'closed');
    same(1, count($confirmed->payments), 'one payment');
    $payment = $confirmed->payments[0];
    same([$txid, $invoice->amountDueBase, true], [$payment->txid, $payment->amount, $payment->confirmed], 'the payment');

    $e = throws(fn () => $client->waitForInvoice($invoice->id, 'expired', timeout: 0.5, pollInterval: 0.2), WaitTimeoutException::class);
    same('confirmed', $e->getInvoice()?->status, 'the invoice as last read');
    $state['invoice'] = $confirmed;
    $state['txid'] = $txid;
});

step('transfers', function () use ($client, $CHAIN, &$state): void {
    $invoice = $state['invoice'];
    $page = $client->listTransfers($CHAIN, address: $invoice->address);
    same(1, count($page->transfers), 'one transfer');
    $transfer = $page->transfers[0];
    same([$state['txid'], 'in', $invoice->amountDueBase], [$transfer->txid, $transfer->direction, $transfer->amount], 'the transfer');
    same('12.34', Units::format($transfer->amount, $transfer->asset->decimals), 'in whole units');
    same('confirmed', $transfer->status, 'its status');
    check($transfer->confirmations >= $state['confirmations'], 'its confirmations');
    $byTx = [];
    foreach ($client->iterateTransfers($CHAIN, txid: $state['txid']) as $t) {
        $byTx[] = $t->txid;
    }
    same([$state['txid']], $byTx, 'by txid');
});

// --- the webhook ---------------------------------------------------------------------------------

step('the signed webhook is verified; a tampered or old one is not', function () use ($WEBHOOK_SECRET, &$state): void {
    $invoice = $state['invoice'];
    $prefix = "invoice:{$invoice->id}:confirmed:";
    $record = until("a webhook for {$prefix}", function () use ($prefix) {
        foreach (capturedWebhooks() as $record) {
            if (str_starts_with(Webhook::header($record['headers'], Webhook::EVENT_ID_HEADER) ?? '', $prefix)) {
                return $record;
            }
        }
        return null;
    });
    ['headers' => $headers, 'body' => $body] = $record;

    $event = Webhook::constructEvent($body, $headers, $WEBHOOK_SECRET);
    check($event instanceof InvoiceEvent, 'an InvoiceEvent');
    same('invoice.confirmed', $event->type, 'the type');
    same($invoice->id, $event->invoice->id, 'the invoice');
    same('confirmed', $event->invoice->status, "the invoice's status");
    same(Webhook::header($headers, 'paywatch-event-id'), $event->id, 'the event id');
    $state['webhookEventId'] = $event->id;
    // $_SERVER-style headers work too.
    $server = [];
    foreach ($headers as $name => $value) {
        $server['HTTP_' . strtoupper(str_replace('-', '_', $name))] = $value;
    }
    same($event->id, Webhook::constructEvent($body, $server, $WEBHOOK_SECRET)->id, 'from $_SERVER');

    $timestamp = Webhook::header($headers, Webhook::TIMESTAMP_HEADER);
    $signature = Webhook::header($headers, Webhook::SIGNATURE_HEADER);
    Webhook::verifySignature($WEBHOOK_SECRET, $timestamp, $body, $signature);
    // During a secret rotation either secret is accepted.
    Webhook::verifySignature(['whsec_the_old_secret_0000', $WEBHOOK_SECRET], $timestamp, $body, $signature);

    $tampered = preg_replace('/"confirmed"/', '"confirmeD"', $body, 1);
    check($tampered !== $body, 'tampered');
    throws(fn () => Webhook::verifySignature($WEBHOOK_SECRET, $timestamp, $tampered, $signature), WebhookVerificationException::class, 'signature_mismatch');
    throws(fn () => Webhook::verifySignature('whsec_a_wrong_secret_00000', $timestamp, $body, $signature), WebhookVerificationException::class, 'signature_mismatch');
    throws(fn () => Webhook::verifySignature($WEBHOOK_SECRET, $timestamp, $body, substr($signature, 3)), WebhookVerificationException::class, 'malformed_signature');
    throws(fn () => Webhook::verifySignature($WEBHOOK_SECRET, null, $body, $signature), WebhookVerificationException::class, 'missing_header');
    // An old timestamp, correctly signed (a captured request replayed later), is refused.
    $old = (string) (time() - 600);
    $oldSignature = 'v1=' . hash_hmac('sha256', $old . '.' . $body, $WEBHOOK_SECRET);
    same($oldSignature, Webhook::sign($WEBHOOK_SECRET, $old, $body), 'sign()');
    throws(fn () => Webhook::verifySignature($WEBHOOK_SECRET, $old, $body, $oldSignature), WebhookVerificationException::class, 'timestamp_out_of_tolerance');
    Webhook::verifySignature($WEBHOOK_SECRET, $old, $body, $oldSignature, tolerance: 900);
    throws(
        fn () => Webhook::constructEvent($body, withHeaders($headers, [Webhook::TIMESTAMP_HEADER => $old, Webhook::SIGNATURE_HEADER => $oldSignature]), $WEBHOOK_SECRET),
        WebhookVerificationException::class,
        'timestamp_out_of_tolerance',
    );
    // The test vector of docs/webhooks.md.
    $vector = ['whsec_0123456789abcdef', '1700000000', '{"a":1}', 'v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2'];
    check(Webhook::isValidSignature(...$vector, now: 1700000000), 'the test vector');
    check(!Webhook::isValidSignature(...$vector), 'the test vector, long past');
});

// --- deliveries --------------------------------------------------------------------------------

step('deliveries, and the retry of a dead one', function () use ($client, $SINK, $DEAD_SINK, &$state): void {
    $eventId = $state['webhookEventId'];
    $delivered = [];
    foreach ($client->iterateDeliveries(status: 'delivered', sink: $SINK) as $d) {
        if ($d->eventId === $eventId) {
            $delivered[] = $d;
        }
    }
    same(1, count($delivered), 'one delivery of the event');
    $delivery = $client->getDelivery($delivered[0]->id);
    same(['delivered', $SINK], [$delivery->status, $delivery->sink], 'the delivery');
    check($delivery->deliveredMs !== null, 'delivered_ms');
    throws(fn () => $client->retryDelivery($delivery->id), ConflictException::class, 'not_dead');
    throws(fn () => $client->getDelivery("999999999.{$SINK}"), NotFoundException::class, 'not_found');

    $dead = until('a dead delivery of this event to the dead-end sink', function () use ($client, $DEAD_SINK, $eventId) {
        foreach ($client->iterateDeliveries(status: 'dead', sink: $DEAD_SINK) as $d) {
            if ($d->eventId === $eventId) {
                return $d;
            }
        }
        return null;
    });
    $retried = $client->retryDelivery($dead->id);
    same([$dead->id, 'pending'], [$retried->id, $retried->status], 'the retried delivery');
    check($retried->sinceMs >= $dead->sinceMs, 'a fresh retry window');
});

// --- cancel ------------------------------------------------------------------------------------

step('cancel, settle and invalidate', function () use ($client, $CHAIN, $ASSET, $RUN, &$state): void {
    $invoice = $client->createInvoice($CHAIN, $ASSET, "php-43-{$RUN}", amount: '5', expiresIn: 600);
    $cancelled = $client->cancelInvoice($invoice->id);
    same('cancelled', $cancelled->status, 'the status');
    same('cancelled', $cancelled->closed, 'closed');
    $e = throws(fn () => $client->cancelInvoice($invoice->id), ConflictException::class, ErrorCode::NOT_OPEN);
    same(409, $e->getStatus(), 'the status');
    $state['cancelled'] = $cancelled;

    // Changes by hand, on another invoice: settled with a note, then invalid.
    $other = $client->createInvoice($CHAIN, $ASSET, "php-45-{$RUN}", amount: '6');
    $settled = $client->settleInvoice($other->id, note: 'paid in cash');
    same('settled', $settled->status, 'settled');
    same(
        [['settled', 'pending', 'paid in cash']],
        array_map(fn ($h) => [$h->action, $h->from, $h->note], $settled->history ?? []),
        'the history',
    );
    throws(fn () => $client->settleInvoice($other->id), ConflictException::class, 'not_settleable');
    same('invalid', $client->invalidateInvoice($other->id)->status, 'invalidated');
});

// --- the events iterator, across a restart -------------------------------------------------------

step('the events iterator resumes from its cursor across a daemon restart', function () use ($client, $CHAIN, $ASSET, $RUN, $RESTART_CMD, &$state): void {
    $invoice = $state['invoice'];
    $startSeq = $state['startSeq'];

    // Everything since these steps began, then caught up: the iterator ends.
    $stream = $client->events(after: $startSeq, follow: false, limit: 3);
    $before = iterator_to_array($stream, false);
    $seqs = array_map(fn (Event $e) => $e->seq, $before);
    $sorted = array_values(array_unique($seqs));
    sort($sorted);
    same($sorted, $seqs, 'events in order, none repeated');
    check($seqs[0] > $startSeq, 'after the start');
    same(end($seqs), $stream->cursor, 'the cursor');
    $kinds = array_map(fn (Event $e) => $e->type . ' ' . ($e instanceof InvoiceEvent ? $e->invoice->id : ''), $before);
    foreach (["invoice.paid {$invoice->id}", "invoice.confirmed {$invoice->id}", "invoice.cancelled {$state['cancelled']->id}"] as $kind) {
        check(in_array($kind, $kinds, true), "no {$kind}");
    }
    $payment = array_values(array_filter($before, fn (Event $e) => $e instanceof PaymentEvent && $e->txid === $state['txid']));
    $types = array_map(fn (Event $e) => $e->type, $payment);
    sort($types);
    same(['payment.confirmed', 'payment.detected'], $types, 'the payment events');
    same($invoice->amountDueBase, $payment[0]->amount, 'the payment amount');
    $saved = $stream->cursor; // what a consumer would have stored

    // New events while the consumer is away: a third invoice, paid.
    $third = $client->createInvoice($CHAIN, $ASSET, "php-44-{$RUN}", amount: '0.5');
    payToken($third->address, $third->amountDueBase);
    $client->waitForInvoice($third->id, 'paid', timeout: WAIT, pollInterval: 0.2);

    // Restart the daemon and resume from the saved cursor. The stream starts
    // while the daemon is down, so its first requests fail and are retried.
    $restart = proc_open($RESTART_CMD, [0 => ['file', '/dev/null', 'r'], 1 => STDOUT, 2 => STDERR], $pipes);
    check(is_resource($restart), 'PAYWATCH_RESTART_CMD did not start');
    $exitCode = null;
    // proc_get_status() reports the exit code once, to the first call that sees the exit.
    $running = function () use ($restart, &$exitCode): bool {
        $status = proc_get_status($restart);
        if (!$status['running'] && $exitCode === null) {
            $exitCode = $status['exitcode'];
        }
        return $status['running'];
    };
    until('the daemon going down for its restart', function () use ($client, $running): bool {
        if (!$running()) {
            return true;
        }
        try {
            $client->health();
            return false;
        } catch (ConnectionException) {
            return true;
        }
    }, 20.0);
    mine($state['confirmations'] - 1); // confirmations seen only by the restarted daemon

    $resumed = $client->events(after: $saved, wait: 5, maxRetries: 80, maxBackoff: 0.5, maxDuration: WAIT);
    $after = [];
    foreach ($resumed as $event) {
        $after[] = $event;
        if ($event instanceof InvoiceEvent && $event->type === 'invoice.confirmed' && $event->invoice->id === $third->id) {
            break;
        }
    }
    until('PAYWATCH_RESTART_CMD to finish', fn (): bool => !$running(), 60.0);
    proc_close($restart);
    same(0, $exitCode, 'PAYWATCH_RESTART_CMD exit code');

    $afterSeqs = array_map(fn (Event $e) => $e->seq, $after);
    check(in_array('invoice.confirmed', array_map(fn (Event $e) => $e->type, $after), true), 'no invoice.confirmed for the third invoice');
    $sorted = array_values(array_unique($afterSeqs));
    sort($sorted);
    same($sorted, $afterSeqs, 'events in order, none repeated, after the restart');
    same([], array_values(array_intersect($afterSeqs, $seqs)), 'events repeated across the restart');
    same(end($afterSeqs), $resumed->cursor, 'the cursor');
    check($resumed->retries > 0, 'the stream never met the stopped daemon');
    $thirdTypes = [];
    foreach ($after as $e) {
        if ($e instanceof InvoiceEvent && $e->invoice->id === $third->id) {
            $thirdTypes[] = $e->type;
        }
    }
    same(['invoice.paid', 'invoice.confirmed'], $thirdTypes, "the third invoice's events");

    // Nothing missed: the feed read in one go holds exactly these events.
    $last = end($afterSeqs);
    $fresh = array_filter(iterator_to_array($client->events(after: $startSeq, follow: false, limit: 1000), false), fn (Event $e) => $e->seq <= $last);
    same(
        array_map(fn (Event $e) => $e->id, array_merge($before, $after)),
        array_values(array_map(fn (Event $e) => $e->id, $fresh)),
        'the events, read in one go',
    );
});

// --- run --------------------------------------------------------------------------------------

$started = microtime(true);
$passed = 0;
foreach ($steps as [$name, $fn]) {
    $t0 = microtime(true);
    try {
        $fn();
        $passed++;
        printf("ok    %s (%.0f ms)\n", $name, (microtime(true) - $t0) * 1000);
    } catch (\Throwable $e) {
        printf("FAIL  %s: %s: %s\n", $name, get_class($e), $e->getMessage());
        fwrite(STDERR, $e->getTraceAsString() . "\n");
        break; // the steps share state: the next ones would fail for this one
    }
}
$ok = $passed === count($steps);
printf("%s: %d of %d steps passed in %.1f s\n", $ok ? 'passed' : 'FAILED', $passed, count($steps), microtime(true) - $started);
exit($ok ? 0 : 1);
