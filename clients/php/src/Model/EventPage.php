<?php

declare(strict_types=1);

namespace Paywatch\Model;

/** One page of the events feed; pass nextAfter back as after. */
final class EventPage
{
    /**
     * @param list<Event> $events
     * @param array<string, mixed> $raw
     */
    public function __construct(
        public readonly array $events,
        /** The last event's seq, or after when the page is empty. */
        public readonly int $nextAfter,
        public readonly array $raw,
    ) {
    }

    /** @param array<string, mixed> $d */
    public static function fromArray(array $d): self
    {
        return new self(Json::list($d, 'events', [Event::class, 'fromArray']), Json::int($d, 'next_after'), $d);
    }
}
