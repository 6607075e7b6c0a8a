<?php

declare(strict_types=1);

namespace Paywatch;

use Paywatch\Exception\ApiException;
use Paywatch\Exception\ConnectionException;
use Paywatch\Model\Event;

/**
 * The events feed as an iterator (see Client::events()).
 *
 * $cursor is the seq of the last event returned (or the starting $after):
 * save it after handling an event, and a new stream from it resumes with the
 * next event, neither repeating nor skipping one. $retries counts the failed
 * requests that were tried again.
 *
 * @implements \IteratorAggregate<int, Event>
 */
final class EventStream implements \IteratorAggregate
{
    public int $cursor;
    public int $retries = 0;
    private bool $closed = false;

    /** Statuses worth trying again: body timeout, rate limit, a daemon busy, restarting or stopping. */
    private const RETRYABLE_STATUS = [408, 429, 500, 502, 503, 504];

    public function __construct(
        private readonly Client $client,
        int $after = 0,
        private readonly int $wait = 30,
        private readonly int $limit = 100,
        private readonly bool $follow = true,
        private readonly bool $reconnect = true,
        private readonly ?int $maxRetries = null,
        private readonly float $maxBackoff = 10.0,
        private readonly ?float $maxDuration = null,
    ) {
        if ($wait < 0 || $wait > 60) {
            throw new \InvalidArgumentException('wait must be 0 to 60 seconds');
        }
        $this->cursor = $after;
    }

    /** Ends the iteration after the current request; the cursor stays at the last event returned. */
    public function close(): void
    {
        $this->closed = true;
    }

    /** @return \Generator<int, Event> */
    public function getIterator(): \Generator
    {
        $deadline = $this->maxDuration === null ? null : microtime(true) + $this->maxDuration;
        while (!$this->closed) {
            if ($deadline !== null && microtime(true) >= $deadline) {
                return;
            }
            $wait = $this->follow ? $this->wait : 0;
            if ($deadline !== null) {
                $wait = max(0, min($wait, (int) floor($deadline - microtime(true))));
            }
            $page = $this->fetch($wait, $deadline);
            if ($page === null) {
                return;
            }
            foreach ($page->events as $event) {
                if ($this->closed) {
                    return;
                }
                $this->cursor = $event->seq;
                yield $event->seq => $event;
            }
            if (!$this->follow && count($page->events) < $this->limit) {
                return;
            }
        }
    }

    private function fetch(int $wait, ?float $deadline): ?Model\EventPage
    {
        $failures = 0;
        while (true) {
            try {
                return $this->client->listEvents($this->cursor, $this->limit, $wait);
            } catch (ConnectionException | ApiException $e) {
                $retryable = $e instanceof ConnectionException
                    || in_array($e->getStatus(), self::RETRYABLE_STATUS, true);
                if (!$this->reconnect || !$retryable) {
                    throw $e;
                }
                if ($this->maxRetries !== null && $failures >= $this->maxRetries) {
                    throw $e;
                }
                $pause = min($this->maxBackoff, 0.25 * (2 ** $failures));
                if ($deadline !== null && microtime(true) + $pause >= $deadline) {
                    return null;
                }
                usleep((int) ($pause * 1_000_000));
                $failures++;
                $this->retries++;
                if ($this->closed) {
                    return null;
                }
            }
        }
    }
}
