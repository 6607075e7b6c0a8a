<?php

declare(strict_types=1);

namespace Paywatch;

use Paywatch\Exception\ApiException;
use Paywatch\Exception\ConnectionException;
use Paywatch\Exception\UnexpectedResponseException;
use Paywatch\Exception\WaitTimeoutException;
use Paywatch\Http\CurlTransport;
use Paywatch\Http\StreamTransport;
use Paywatch\Http\Transport;
use Paywatch\Model\BatchResult;
use Paywatch\Model\Choice;
use Paywatch\Model\DeletedWatch;
use Paywatch\Model\Delivery;
use Paywatch\Model\DeliveryPage;
use Paywatch\Model\EventPage;
use Paywatch\Model\Invoice;
use Paywatch\Model\InvoicePage;
use Paywatch\Model\Status;
use Paywatch\Model\Transfer;
use Paywatch\Model\TransferPage;
use Paywatch\Model\Watch;

/**
 * A client of one paywatch daemon's HTTP API.
 *
 *     $client = new Client('http://127.0.0.1:8480', apiKey: getenv('PAYWATCH_API_KEY'));
 *     $invoice = $client->createInvoice(chain: 'eth', asset: 'USDT', orderId: '42', amount: '25');
 *
 * $apiKey is sent as `Authorization: Bearer <key>`; leave it null when the
 * daemon has no keys. $timeout is the seconds one request may take (long
 * polls add their wait). HTTP goes through the curl extension when it is
 * loaded, else PHP's stream wrapper; pass a Transport to choose. Error
 * answers are thrown as ApiException subclasses carrying the API's error
 * code (getErrorCode()); connection failures as ConnectionException.
 */
final class Client
{
    public const DEFAULT_URL = 'http://127.0.0.1:8480';
    public const VERSION = '0.1.0';

    private const RETRYABLE_STATUS = [408, 429, 500, 502, 503, 504];

    private readonly string $baseUrl;
    private readonly Transport $transport;

    public function __construct(
        string $baseUrl = self::DEFAULT_URL,
        private readonly ?string $apiKey = null,
        private readonly float $timeout = 30.0,
        ?Transport $transport = null,
    ) {
        $scheme = parse_url($baseUrl, PHP_URL_SCHEME);
        if (($scheme !== 'http' && $scheme !== 'https') || parse_url($baseUrl, PHP_URL_HOST) === null) {
            throw new \InvalidArgumentException("baseUrl must be an http(s) URL, not '{$baseUrl}'");
        }
        $this->baseUrl = rtrim($baseUrl, '/');
        $this->transport = $transport ?? (extension_loaded('curl') ? new CurlTransport() : new StreamTransport());
    }

    public function getBaseUrl(): string
    {
        return $this->baseUrl;
    }

    public function getTransport(): Transport
    {
        return $this->transport;
    }

    // --- transport -------------------------------------------------------------------

    /**
     * Sends one request and returns the answer's body; throws ApiException for
     * an error answer. $path starts with '/'.
     *
     * @param array<string, string|int|bool|null> $query
     */
    public function request(
        string $method,
        string $path,
        array $query = [],
        mixed $json = null,
        ?string $body = null,
        ?string $contentType = null,
        ?float $timeout = null,
        string $accept = 'application/json',
    ): string {
        $url = $this->baseUrl . $path;
        $pairs = [];
        foreach ($query as $key => $value) {
            if ($value === null) {
                continue;
            }
            $pairs[$key] = is_bool($value) ? ($value ? 'true' : 'false') : (string) $value;
        }
        if ($pairs !== []) {
            $url .= '?' . http_build_query($pairs, '', '&', PHP_QUERY_RFC3986);
        }
        $headers = [
            'Accept' => $accept,
            'User-Agent' => 'paywatch-php/' . self::VERSION,
        ];
        if ($this->apiKey !== null && $this->apiKey !== '') {
            $headers['Authorization'] = 'Bearer ' . $this->apiKey;
        }
        if ($json !== null) {
            $body = json_encode($json, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
            $contentType = 'application/json';
        }
        if ($contentType !== null) {
            $headers['Content-Type'] = $contentType;
        }
        $response = $this->transport->send($method, $url, $headers, $body, $timeout ?? $this->timeout);
        if ($response->status >= 200 && $response->status < 300) {
            return $response->body;
        }
        throw ApiException::fromResponse($response->status, $response->body);
    }

    /**
     * @param array<string, string|int|bool|null> $query
     * @return array<string, mixed>
     */
    private function json(string $method, string $path, array $query = [], mixed $json = null, ?float $timeout = null): array
    {
        $body = $this->request($method, $path, $query, $json, timeout: $timeout);
        try {
            $data = json_decode($body, true, 512, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
        } catch (\JsonException) {
            throw new UnexpectedResponseException("{$method} {$path}: the answer is not JSON: " . substr($body, 0, 200));
        }
        if (!is_array($data)) {
            throw new UnexpectedResponseException("{$method} {$path}: the answer is not a JSON object");
        }
        return $data;
    }

    // --- service -------------------------------------------------------------------

    /** GET /health: true while the daemon serves its API (needs no key). */
    public function health(): bool
    {
        return ($this->json('GET', '/health')['ok'] ?? false) === true;
    }

    /** GET /v1/status: every chain's state and height, the feed's last seq, delivery, rates. */
    public function getStatus(): Status
    {
        return Status::fromArray($this->json('GET', '/v1/status'));
    }

    // --- watches -------------------------------------------------------------------

    /**
     * POST /v1/watches: watch an address. The same request again returns the
     * stored watch; another label or metadata is a ConflictException watch_exists.
     *
     * @param array<string, mixed>|null $metadata
     */
    public function addWatch(string $chain, string $address, ?string $label = null, ?array $metadata = null): Watch
    {
        return Watch::fromArray($this->json('POST', '/v1/watches', json: self::watchBody([
            'chain' => $chain,
            'address' => $address,
            'label' => $label,
            'metadata' => $metadata,
        ])));
    }

    /**
     * POST /v1/watches:batch: bulk load, sent as NDJSON. All or nothing: an
     * invalid item is a BadRequestException invalid_batch whose getDetails()
     * names each bad item (from 1).
     *
     * @param iterable<array{chain: string, address: string, label?: string|null, metadata?: array<string, mixed>|null}> $watches
     */
    public function addWatches(iterable $watches): BatchResult
    {
        $body = '';
        foreach ($watches as $watch) {
            $body .= json_encode(self::watchBody($watch), JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n";
        }
        $answer = $this->request('POST', '/v1/watches:batch', body: $body, contentType: 'application/x-ndjson');
        return BatchResult::fromArray(self::decode($answer));
    }

    /** GET /v1/watches/{chain}/{address}. */
    public function getWatch(string $chain, string $address): Watch
    {
        return Watch::fromArray($this->json('GET', '/v1/watches/' . self::seg($chain) . '/' . self::seg($address)));
    }

    /** DELETE /v1/watches/{chain}/{address}: transfers already recorded stay. */
    public function deleteWatch(string $chain, string $address): DeletedWatch
    {
        return DeletedWatch::fromArray($this->json('DELETE', '/v1/watches/' . self::seg($chain) . '/' . self::seg($address)));
    }

    // --- transfers -----------------------------------------------------------------

    /**
     * GET /v1/transfers: one page of the transfers of an address, of a
     * counterparty, or of a transaction (give exactly one); pass nextCursor
     * back as $cursor.
     */
    public function listTransfers(
        string $chain,
        ?string $address = null,
        ?string $counterparty = null,
        ?string $txid = null,
        ?int $limit = null,
        ?string $cursor = null,
    ): TransferPage {
        return TransferPage::fromArray($this->json('GET', '/v1/transfers', [
            'chain' => $chain,
            'address' => $address,
            'counterparty' => $counterparty,
            'txid' => $txid,
            'limit' => $limit,
            'cursor' => $cursor,
        ]));
    }

    /**
     * Every transfer listTransfers() finds, page after page.
     *
     * @return \Generator<int, Transfer>
     */
    public function iterateTransfers(
        string $chain,
        ?string $address = null,
        ?string $counterparty = null,
        ?string $txid = null,
        ?int $limit = null,
    ): \Generator {
        $cursor = null;
        do {
            $page = $this->listTransfers($chain, $address, $counterparty, $txid, $limit, $cursor);
            foreach ($page->transfers as $transfer) {
                yield $transfer;
            }
            $cursor = $page->nextCursor;
        } while ($cursor !== null && $cursor !== '');
    }

    /**
     * GET /v1/risk/frozen: addresses the listed stablecoins' issuers froze.
     *
     * @return list<array{address: string, asset: string, contract: string, height: int, txid: string}>
     */
    public function listFrozen(string $chain): array
    {
        $answer = $this->json('GET', '/v1/risk/frozen', ['chain' => $chain]);
        return array_values(is_array($answer['frozen'] ?? null) ? $answer['frozen'] : []);
    }

    // --- invoices ------------------------------------------------------------------

    /**
     * POST /v1/invoices: a payment request for $orderId, for $amount in whole
     * units of $asset ('25.01') or for $price in $currency. Amounts are
     * decimal strings (an int is accepted; a float is refused). The same
     * order with the same amount returns the stored invoice; another amount
     * is a ConflictException invoice_exists.
     *
     * @param string|int|null $amount whole units, e.g. '25.01' (never a float: refused with TypeError)
     * @param string|int|null $price in $currency (never a float)
     * @param array<string, mixed>|null $metadata
     */
    public function createInvoice(
        string $chain,
        string $asset,
        string $orderId,
        mixed $amount = null,
        mixed $price = null,
        ?string $currency = null,
        ?int $expiresIn = null,
        ?string $redirectUrl = null,
        ?string $underpaymentTolerance = null,
        ?string $rateAdjust = null,
        ?int $confirmations = null,
        ?bool $holdFlagged = null,
        ?array $metadata = null,
    ): Invoice {
        if (($amount === null) === ($price === null)) {
            throw new \InvalidArgumentException('give either amount or price (with currency)');
        }
        $body = self::compact([
            'chain' => $chain,
            'asset' => $asset,
            'order_id' => $orderId,
            'amount' => $amount === null ? null : Units::money($amount, 'amount'),
            'price' => $price === null ? null : Units::money($price, 'price'),
            'currency' => $currency,
            'expires_in' => $expiresIn,
            'redirect_url' => $redirectUrl,
            'underpayment_tolerance' => $underpaymentTolerance,
            'rate_adjust' => $rateAdjust,
            'confirmations' => $confirmations,
            'hold_flagged' => $holdFlagged,
            'metadata' => $metadata === null ? null : self::object($metadata),
        ]);
        return Invoice::fromArray($this->json('POST', '/v1/invoices', json: $body));
    }

    /**
     * POST /v1/invoices with options: an order priced in fiat that the buyer
     * pays on the network of its choice.
     *
     * @param list<array{chain: string, asset: string}> $options
     * @param string|int $price in $currency (never a float)
     * @param array<string, mixed>|null $metadata
     */
    public function createChoice(
        array $options,
        mixed $price,
        string $currency,
        string $orderId,
        ?int $expiresIn = null,
        ?string $redirectUrl = null,
        ?string $underpaymentTolerance = null,
        ?string $rateAdjust = null,
        ?bool $holdFlagged = null,
        ?array $metadata = null,
    ): Choice {
        $body = self::compact([
            'options' => array_map(static fn (array $o): array => ['chain' => $o['chain'], 'asset' => $o['asset']], $options),
            'price' => Units::money($price, 'price'),
            'currency' => $currency,
            'order_id' => $orderId,
            'expires_in' => $expiresIn,
            'redirect_url' => $redirectUrl,
            'underpayment_tolerance' => $underpaymentTolerance,
            'rate_adjust' => $rateAdjust,
            'hold_flagged' => $holdFlagged,
            'metadata' => $metadata === null ? null : self::object($metadata),
        ]);
        return Choice::fromArray($this->json('POST', '/v1/invoices', json: $body));
    }

    /** POST /v1/invoices/{id}/options/{n}: option $n's invoice (made now the first time). */
    public function chooseOption(string $choiceId, int $n): Invoice
    {
        return Invoice::fromArray($this->json('POST', '/v1/invoices/' . self::seg($choiceId) . '/options/' . $n));
    }

    /** GET /v1/invoices/{id}: the invoice, or a Choice for a choice's id. */
    public function getInvoice(string $id): Invoice|Choice
    {
        $data = $this->json('GET', '/v1/invoices/' . self::seg($id));
        return ($data['kind'] ?? null) === 'choice' ? Choice::fromArray($data) : Invoice::fromArray($data);
    }

    /** GET /v1/invoices: one page, ordered by id; pass next back as $after. */
    public function listInvoices(
        ?string $chain = null,
        ?string $orderId = null,
        ?string $status = null,
        ?string $after = null,
        ?int $limit = null,
    ): InvoicePage {
        return InvoicePage::fromArray($this->json('GET', '/v1/invoices', [
            'chain' => $chain,
            'order_id' => $orderId,
            'status' => $status,
            'after' => $after,
            'limit' => $limit,
        ]));
    }

    /**
     * Every invoice listInvoices() finds, page after page.
     *
     * @return \Generator<int, Invoice>
     */
    public function iterateInvoices(?string $chain = null, ?string $orderId = null, ?string $status = null, ?int $limit = null): \Generator
    {
        $after = null;
        do {
            $page = $this->listInvoices($chain, $orderId, $status, $after, $limit);
            foreach ($page->invoices as $invoice) {
                yield $invoice;
            }
            $after = $page->next;
        } while ($after !== null);
    }

    /** POST /v1/invoices/{id}/cancel: a pending or underpaid invoice is cancelled (else ConflictException not_open). */
    public function cancelInvoice(string $id): Invoice
    {
        return Invoice::fromArray($this->json('POST', '/v1/invoices/' . self::seg($id) . '/cancel'));
    }

    /** POST /v1/invoices/{id}/settle: marked paid by hand. */
    public function settleInvoice(string $id, ?string $note = null): Invoice
    {
        return $this->byHand($id, 'settle', $note);
    }

    /** POST /v1/invoices/{id}/invalidate: marked invalid by hand. */
    public function invalidateInvoice(string $id, ?string $note = null): Invoice
    {
        return $this->byHand($id, 'invalidate', $note);
    }

    /** POST /v1/invoices/{id}/release: a held invoice is confirmed. */
    public function releaseInvoice(string $id, ?string $note = null): Invoice
    {
        return $this->byHand($id, 'release', $note);
    }

    /** POST /v1/invoices/{id}/reject: a held invoice is rejected. */
    public function rejectInvoice(string $id, ?string $note = null): Invoice
    {
        return $this->byHand($id, 'reject', $note);
    }

    /** POST /v1/invoices/{id}/attach: credit a transaction to the invoice by hand. */
    public function attachPayment(string $id, string $txid, ?string $note = null): Invoice
    {
        $body = self::compact(['txid' => $txid, 'note' => $note]);
        return Invoice::fromArray($this->json('POST', '/v1/invoices/' . self::seg($id) . '/attach', json: $body));
    }

    /**
     * POST /v1/invoices/{id}/refunds: prepare a refund of $amount (whole units); it is last in refunds.
     *
     * @param string|int $amount whole units (never a float)
     */
    public function requestRefund(string $id, mixed $amount, ?string $asset = null, ?string $address = null, ?string $note = null): Invoice
    {
        $body = self::compact([
            'amount' => Units::money($amount, 'amount'),
            'asset' => $asset,
            'address' => $address,
            'note' => $note,
        ]);
        return Invoice::fromArray($this->json('POST', '/v1/invoices/' . self::seg($id) . '/refunds', json: $body));
    }

    /** GET /v1/invoices/{id}/qr.svg: the payment URI (or the bare address) as an SVG QR code. */
    public function invoiceQrSvg(string $id, bool $addressOnly = false, ?string $refund = null): string
    {
        return $this->request('GET', '/v1/invoices/' . self::seg($id) . '/qr.svg', [
            'address_only' => $addressOnly ? 'true' : null,
            'refund' => $refund,
        ], accept: 'image/svg+xml');
    }

    /** GET /v1/invoices/{id}/qr.png: the same QR code as PNG bytes. */
    public function invoiceQrPng(string $id, bool $addressOnly = false, ?string $refund = null): string
    {
        return $this->request('GET', '/v1/invoices/' . self::seg($id) . '/qr.png', [
            'address_only' => $addressOnly ? 'true' : null,
            'refund' => $refund,
        ], accept: 'image/png');
    }

    /**
     * Reads the invoice until its status is $status (or one of several) and
     * returns it; throws WaitTimeoutException after $timeout seconds.
     * Connection failures meanwhile (a daemon restarting) are waited out.
     *
     * @param string|list<string> $status
     */
    public function waitForInvoice(string $id, string|array $status = 'confirmed', float $timeout = 600.0, float $pollInterval = 2.0): Invoice
    {
        $targets = is_string($status) ? [$status] : array_values($status);
        if ($targets === []) {
            throw new \InvalidArgumentException('status must name at least one invoice status');
        }
        $deadline = microtime(true) + $timeout;
        $last = null;
        while (true) {
            $found = null;
            try {
                $found = $this->getInvoice($id);
            } catch (ConnectionException) {
                // the daemon may be restarting: keep waiting
            } catch (ApiException $e) {
                if (!in_array($e->getStatus(), self::RETRYABLE_STATUS, true)) {
                    throw $e;
                }
            }
            if ($found instanceof Choice) {
                throw new \InvalidArgumentException("{$id} is a choice; wait for one of its options' invoices");
            }
            if ($found !== null) {
                $last = $found;
                if (in_array($found->status, $targets, true)) {
                    return $found;
                }
            }
            $remaining = $deadline - microtime(true);
            if ($remaining <= 0) {
                $seen = $last?->status ?? 'unreadable';
                throw new WaitTimeoutException(
                    "invoice {$id} is {$seen}, not " . implode(' or ', $targets) . ", after {$timeout} s",
                    $last,
                );
            }
            usleep((int) (min($pollInterval, $remaining) * 1_000_000));
        }
    }

    // --- events --------------------------------------------------------------------

    /**
     * GET /v1/events: one page of the events with seq > $after, oldest first.
     * With $wait (0 to 60 s) the daemon holds the request until an event comes.
     */
    public function listEvents(int $after = 0, ?int $limit = null, ?int $wait = null): EventPage
    {
        $query = ['after' => $after, 'limit' => $limit, 'wait' => $wait];
        return EventPage::fromArray($this->json('GET', '/v1/events', $query, timeout: $this->timeout + ($wait ?? 0)));
    }

    /**
     * The events feed as an iterator from $after on (0 for the beginning, or
     * a saved cursor). With $follow (the default) it waits for new events
     * with long polls of $wait seconds; with $follow false it ends once caught
     * up. Connection failures and 5xx answers (a daemon restarting) are
     * retried, $maxRetries times in a row (null: without end). $maxDuration
     * ends it after that many seconds (a cron job's run, say).
     *
     *     $stream = $client->events(after: loadCursor());
     *     foreach ($stream as $event) {
     *         handle($event);
     *         saveCursor($stream->cursor);
     *     }
     */
    public function events(
        int $after = 0,
        int $wait = 30,
        int $limit = 100,
        bool $follow = true,
        bool $reconnect = true,
        ?int $maxRetries = null,
        float $maxBackoff = 10.0,
        ?float $maxDuration = null,
    ): EventStream {
        return new EventStream($this, $after, $wait, $limit, $follow, $reconnect, $maxRetries, $maxBackoff, $maxDuration);
    }

    // --- deliveries ----------------------------------------------------------------

    /** GET /v1/deliveries: one page in feed order (pending, delivered or dead; one sink's); pass next as $after. */
    public function listDeliveries(?string $status = null, ?string $sink = null, ?string $after = null, ?int $limit = null): DeliveryPage
    {
        return DeliveryPage::fromArray($this->json('GET', '/v1/deliveries', [
            'status' => $status,
            'sink' => $sink,
            'after' => $after,
            'limit' => $limit,
        ]));
    }

    /**
     * Every delivery listDeliveries() finds, page after page.
     *
     * @return \Generator<int, Delivery>
     */
    public function iterateDeliveries(?string $status = null, ?string $sink = null, ?int $limit = null): \Generator
    {
        $after = null;
        do {
            $page = $this->listDeliveries($status, $sink, $after, $limit);
            foreach ($page->deliveries as $delivery) {
                yield $delivery;
            }
            $after = $page->next;
        } while ($after !== null);
    }

    /** GET /v1/deliveries/{id} (<seq>.<sink>). */
    public function getDelivery(string $id): Delivery
    {
        return Delivery::fromArray($this->json('GET', '/v1/deliveries/' . self::seg($id)));
    }

    /** POST /v1/deliveries/{id}/retry: a dead delivery is attempted again (else ConflictException not_dead). */
    public function retryDelivery(string $id): Delivery
    {
        return Delivery::fromArray($this->json('POST', '/v1/deliveries/' . self::seg($id) . '/retry'));
    }

    // --- chains --------------------------------------------------------------------

    /**
     * POST /v1/chains/{chain}/rescan: scan again from height $from.
     *
     * @return array{chain: string, from: int}
     */
    public function rescan(string $chain, int $from): array
    {
        /** @var array{chain: string, from: int} */
        return $this->json('POST', '/v1/chains/' . self::seg($chain) . '/rescan', json: ['from' => $from]);
    }

    /**
     * POST /v1/chains/{chain}/pool: more addresses for an address-pool chain.
     *
     * @param list<string> $addresses
     * @return array{added: int, pool: array{free: int, reserved: int}}
     */
    public function addPoolAddresses(string $chain, array $addresses): array
    {
        /** @var array{added: int, pool: array{free: int, reserved: int}} */
        return $this->json('POST', '/v1/chains/' . self::seg($chain) . '/pool', json: ['addresses' => array_values($addresses)]);
    }

    // --- helpers ---------------------------------------------------------------------

    private function byHand(string $id, string $action, ?string $note): Invoice
    {
        $json = $note === null ? null : ['note' => $note];
        return Invoice::fromArray($this->json('POST', '/v1/invoices/' . self::seg($id) . '/' . $action, json: $json));
    }

    /**
     * @param array<string, mixed> $watch
     * @return array<string, mixed>
     */
    private static function watchBody(array $watch): array
    {
        if (!isset($watch['chain'], $watch['address'])) {
            throw new \InvalidArgumentException('a watch needs chain and address');
        }
        return self::compact([
            'chain' => $watch['chain'],
            'address' => $watch['address'],
            'label' => $watch['label'] ?? null,
            'metadata' => isset($watch['metadata']) ? self::object($watch['metadata']) : null,
        ]);
    }

    /** @return array<string, mixed> */
    private static function decode(string $body): array
    {
        try {
            $data = json_decode($body, true, 512, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
        } catch (\JsonException) {
            throw new UnexpectedResponseException('the answer is not JSON: ' . substr($body, 0, 200));
        }
        if (!is_array($data)) {
            throw new UnexpectedResponseException('the answer is not a JSON object');
        }
        return $data;
    }

    /**
     * @param array<string, mixed> $values
     * @return array<string, mixed>
     */
    private static function compact(array $values): array
    {
        return array_filter($values, static fn (mixed $v): bool => $v !== null);
    }

    /**
     * Metadata as a JSON object even when empty (an empty PHP array would be []).
     *
     * @param array<string, mixed>|object $metadata
     */
    private static function object(array|object $metadata): object
    {
        return is_object($metadata) ? $metadata : (object) $metadata;
    }

    /** One path segment, percent-encoded (a valid id or address passes unchanged). */
    private static function seg(string $value): string
    {
        return rawurlencode($value);
    }
}
