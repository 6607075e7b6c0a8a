"""The paywatch API client."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    UnexpectedResponseError,
    WaitTimeoutError,
    error_from_response,
)
from .models import (
    BatchResult,
    Choice,
    DeletedWatch,
    Delivery,
    DeliveryPage,
    Event,
    EventPage,
    FrozenList,
    Invoice,
    InvoicePage,
    NewWatch,
    PoolResult,
    RescanAccepted,
    Status,
    Transfer,
    TransferPage,
    Watch,
    parse_invoice_or_choice,
)
from .units import money

__all__ = ["Client", "EventStream", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8480"

Amount = Union[str, int, Decimal]
WatchInput = Union[NewWatch, Mapping[str, Any]]

# Statuses worth trying again for an idempotent read: a request body that
# timed out, rate limits, and the daemon (or a proxy in front) being busy,
# restarting or stopping.
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The API never redirects; a redirect (from a proxy) is returned as the
    error it is rather than followed with the API key."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class Client:
    """A client of one paywatch daemon's HTTP API.

    >>> client = Client("http://127.0.0.1:8480", api_key="…")
    >>> invoice = client.create_invoice(chain="eth", asset="USDT", amount="25", order_id="42")

    ``api_key`` is sent as ``Authorization: Bearer <api_key>``; leave it out
    when the daemon has no keys configured. ``timeout`` is the socket timeout
    of each request, in seconds (long polls add their ``wait`` to it). Errors
    are raised as :class:`paywatch.APIError` subclasses carrying the API's
    error ``code``; connection failures as :class:`paywatch.APIConnectionError`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: Optional[str] = None,
        *,
        timeout: float = 30.0,
        user_agent: Optional[str] = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.user_agent = user_agent or f"paywatch-python/{__version__}"
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # --- transport ---------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        json_body: Any = None,
        data: Optional[bytes] = None,
        content_type: Optional[str] = None,
        timeout: Optional[float] = None,
        accept: str = "application/json",
    ) -> bytes:
        """Sends one request and returns the answer's body; raises
        :class:`APIError` for an error answer. ``path`` starts with ``/``."""
        url = self.base_url + path
        if query:
            pairs = [(k, _query_value(v)) for k, v in query.items() if v is not None]
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout if timeout is None else timeout) as resp:
                answer: bytes = resp.read()
                return answer
        except urllib.error.HTTPError as err:
            try:
                body = err.read()
            except (OSError, http.client.HTTPException):
                body = b""
            finally:
                err.close()
            raise error_from_response(err.code, body) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, socket.timeout) as err:
            reason = getattr(err, "reason", err)
            raise APIConnectionError(f"{method} {url}: {reason}") from err

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        body = self.request(method, path, **kwargs)
        try:
            return json.loads(body)
        except ValueError:
            raise UnexpectedResponseError(f"{method} {path}: the answer is not JSON: {body[:200]!r}") from None

    # --- service -------------------------------------------------------------------

    def health(self) -> bool:
        """``GET /health``: ``True`` while the daemon serves its API (needs no key)."""
        return bool(self._json("GET", "/health").get("ok"))

    def status(self) -> Status:
        """``GET /v1/status``: every chain's state and height, the events
        feed's last ``seq``, delivery and exchange rates."""
        return Status.from_dict(self._json("GET", "/v1/status"))

    get_status = status

    # --- watches -------------------------------------------------------------------

    def add_watch(
        self,
        chain: str,
        address: str,
        *,
        label: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> Watch:
        """``POST /v1/watches``: watch ``address`` on ``chain``. The same
        request again returns the stored watch; the same address with another
        label or metadata raises :class:`ConflictError` ``watch_exists``."""
        body = NewWatch(chain, address, label, dict(metadata) if metadata is not None else None).to_dict()
        return Watch.from_dict(self._json("POST", "/v1/watches", json_body=body))

    def add_watches(self, watches: Iterable[WatchInput]) -> BatchResult:
        """``POST /v1/watches:batch``: bulk load, sent as NDJSON. All or
        nothing: any invalid item raises :class:`BadRequestError`
        ``invalid_batch`` with ``details`` naming each bad item (from 1).
        Addresses already watched count as ``existing``."""
        lines = []
        for watch in watches:
            item = watch.to_dict() if isinstance(watch, NewWatch) else dict(watch)
            lines.append(json.dumps(item, separators=(",", ":"), ensure_ascii=False))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        body = self._json("POST", "/v1/watches:batch", data=data, content_type="application/x-ndjson")
        return BatchResult.from_dict(body)

    def get_watch(self, chain: str, address: str) -> Watch:
        """``GET /v1/watches/{chain}/{address}``."""
        return Watch.from_dict(self._json("GET", f"/v1/watches/{_seg(chain)}/{_seg(address)}"))

    def delete_watch(self, chain: str, address: str) -> DeletedWatch:
        """``DELETE /v1/watches/{chain}/{address}``: stop watching; transfers
        already recorded stay."""
        return DeletedWatch.from_dict(self._json("DELETE", f"/v1/watches/{_seg(chain)}/{_seg(address)}"))

    # --- transfers -----------------------------------------------------------------

    def list_transfers(
        self,
        chain: str,
        *,
        address: Optional[str] = None,
        counterparty: Optional[str] = None,
        txid: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> TransferPage:
        """``GET /v1/transfers``: one page of the transfers of an ``address``,
        of a ``counterparty``, or of a transaction (``txid``); give exactly one.
        Pass ``next_cursor`` back as ``cursor`` for the next page."""
        query = {
            "chain": chain,
            "address": address,
            "counterparty": counterparty,
            "txid": txid,
            "limit": limit,
            "cursor": cursor,
        }
        return TransferPage.from_dict(self._json("GET", "/v1/transfers", query=query))

    def iter_transfers(
        self,
        chain: str,
        *,
        address: Optional[str] = None,
        counterparty: Optional[str] = None,
        txid: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Iterator[Transfer]:
        """Every transfer :meth:`list_transfers` finds, page after page."""
        cursor: Optional[str] = None
        while True:
            page = self.list_transfers(
                chain, address=address, counterparty=counterparty, txid=txid, limit=limit, cursor=cursor
            )
            yield from page.transfers
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def list_frozen(self, chain: str) -> FrozenList:
        """``GET /v1/risk/frozen``: addresses the listed stablecoins' issuers froze."""
        return FrozenList.from_dict(self._json("GET", "/v1/risk/frozen", query={"chain": chain}))

    # --- invoices ------------------------------------------------------------------

    def create_invoice(
        self,
        *,
        chain: str,
        asset: str,
        order_id: str,
        amount: Optional[Amount] = None,
        price: Optional[Amount] = None,
        currency: Optional[str] = None,
        expires_in: Optional[int] = None,
        redirect_url: Optional[str] = None,
        underpayment_tolerance: Optional[Amount] = None,
        rate_adjust: Optional[str] = None,
        confirmations: Optional[int] = None,
        hold_flagged: Optional[bool] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> Invoice:
        """``POST /v1/invoices``: a payment request for ``order_id``, either for
        ``amount`` in whole units of ``asset`` (``"25.01"``) or for ``price`` in
        ``currency`` converted at the current rate. Amounts are decimal strings
        (``int`` and ``Decimal`` are accepted; ``float`` is refused). The same
        order with the same amount returns the stored invoice; another amount
        raises :class:`ConflictError` ``invoice_exists``."""
        if (amount is None) == (price is None):
            raise ValueError("give either amount or price (with currency)")
        body: Dict[str, Any] = {"chain": chain, "asset": asset, "order_id": order_id}
        if amount is not None:
            body["amount"] = money(amount, "amount")
        if price is not None:
            body["price"] = money(price, "price")
            if currency is None:
                raise ValueError("price needs currency")
        _put(body, "currency", currency)
        _put(body, "expires_in", expires_in)
        _put(body, "redirect_url", redirect_url)
        if underpayment_tolerance is not None:
            body["underpayment_tolerance"] = money(underpayment_tolerance, "underpayment_tolerance")
        _put(body, "rate_adjust", rate_adjust)
        _put(body, "confirmations", confirmations)
        _put(body, "hold_flagged", hold_flagged)
        _put(body, "metadata", dict(metadata) if metadata is not None else None)
        return Invoice.from_dict(self._json("POST", "/v1/invoices", json_body=body))

    def create_choice(
        self,
        *,
        options: Sequence[Mapping[str, str]],
        price: Amount,
        currency: str,
        order_id: str,
        expires_in: Optional[int] = None,
        redirect_url: Optional[str] = None,
        underpayment_tolerance: Optional[str] = None,
        rate_adjust: Optional[str] = None,
        hold_flagged: Optional[bool] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> Choice:
        """``POST /v1/invoices`` with ``options``: an order priced in fiat that
        the buyer pays on the network of its choice (``[{"chain": "tron",
        "asset": "USDT"}, {"chain": "eth", "asset": "USDT"}]``)."""
        body: Dict[str, Any] = {
            "options": [{"chain": o["chain"], "asset": o["asset"]} for o in options],
            "price": money(price, "price"),
            "currency": currency,
            "order_id": order_id,
        }
        _put(body, "expires_in", expires_in)
        _put(body, "redirect_url", redirect_url)
        _put(body, "underpayment_tolerance", underpayment_tolerance)
        _put(body, "rate_adjust", rate_adjust)
        _put(body, "hold_flagged", hold_flagged)
        _put(body, "metadata", dict(metadata) if metadata is not None else None)
        result = parse_invoice_or_choice(self._json("POST", "/v1/invoices", json_body=body))
        if not isinstance(result, Choice):
            raise UnexpectedResponseError("the answer to a request with options is not a choice")
        return result

    def choose_option(self, choice_id: str, n: int) -> Invoice:
        """``POST /v1/invoices/{id}/options/{n}``: the invoice of option ``n``
        (from 0) of a choice, made now the first time."""
        return Invoice.from_dict(self._json("POST", f"/v1/invoices/{_seg(choice_id)}/options/{int(n)}"))

    def get_invoice(self, invoice_id: str) -> Union[Invoice, Choice]:
        """``GET /v1/invoices/{id}``: the invoice (or, for a choice's id, the
        :class:`Choice`). Raises :class:`NotFoundError` ``not_found``."""
        return parse_invoice_or_choice(self._json("GET", f"/v1/invoices/{_seg(invoice_id)}"))

    def list_invoices(
        self,
        *,
        chain: Optional[str] = None,
        order_id: Optional[str] = None,
        status: Optional[str] = None,
        after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> InvoicePage:
        """``GET /v1/invoices``: one page, ordered by id; pass ``next`` back as
        ``after``. Every filter is optional."""
        query = {"chain": chain, "order_id": order_id, "status": status, "after": after, "limit": limit}
        return InvoicePage.from_dict(self._json("GET", "/v1/invoices", query=query))

    def iter_invoices(
        self,
        *,
        chain: Optional[str] = None,
        order_id: Optional[str] = None,
        status: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Iterator[Invoice]:
        """Every invoice :meth:`list_invoices` finds, page after page."""
        after: Optional[str] = None
        while True:
            page = self.list_invoices(chain=chain, order_id=order_id, status=status, after=after, limit=limit)
            yield from page.invoices
            if not page.next:
                return
            after = page.next

    def cancel_invoice(self, invoice_id: str) -> Invoice:
        """``POST /v1/invoices/{id}/cancel``: a ``pending`` or ``underpaid``
        invoice becomes ``cancelled``; otherwise :class:`ConflictError` ``not_open``."""
        return Invoice.from_dict(self._json("POST", f"/v1/invoices/{_seg(invoice_id)}/cancel"))

    def settle_invoice(self, invoice_id: str, *, note: Optional[str] = None) -> Invoice:
        """``POST /v1/invoices/{id}/settle``: mark it paid by hand."""
        return self._by_hand(invoice_id, "settle", note)

    def invalidate_invoice(self, invoice_id: str, *, note: Optional[str] = None) -> Invoice:
        """``POST /v1/invoices/{id}/invalidate``: mark it invalid by hand."""
        return self._by_hand(invoice_id, "invalidate", note)

    def release_invoice(self, invoice_id: str, *, note: Optional[str] = None) -> Invoice:
        """``POST /v1/invoices/{id}/release``: a ``held`` invoice is confirmed."""
        return self._by_hand(invoice_id, "release", note)

    def reject_invoice(self, invoice_id: str, *, note: Optional[str] = None) -> Invoice:
        """``POST /v1/invoices/{id}/reject``: a ``held`` invoice is rejected."""
        return self._by_hand(invoice_id, "reject", note)

    def attach_payment(self, invoice_id: str, txid: str, *, note: Optional[str] = None) -> Invoice:
        """``POST /v1/invoices/{id}/attach``: credit a transaction to the invoice by hand."""
        body: Dict[str, Any] = {"txid": txid}
        _put(body, "note", note)
        return Invoice.from_dict(self._json("POST", f"/v1/invoices/{_seg(invoice_id)}/attach", json_body=body))

    def request_refund(
        self,
        invoice_id: str,
        amount: Amount,
        *,
        asset: Optional[str] = None,
        address: Optional[str] = None,
        note: Optional[str] = None,
    ) -> Invoice:
        """``POST /v1/invoices/{id}/refunds``: prepare a refund of ``amount``
        (whole units); the new refund is last in the invoice's ``refunds``."""
        body: Dict[str, Any] = {"amount": money(amount, "amount")}
        _put(body, "asset", asset)
        _put(body, "address", address)
        _put(body, "note", note)
        return Invoice.from_dict(self._json("POST", f"/v1/invoices/{_seg(invoice_id)}/refunds", json_body=body))

    def _by_hand(self, invoice_id: str, action: str, note: Optional[str]) -> Invoice:
        body = {"note": note} if note is not None else None
        return Invoice.from_dict(self._json("POST", f"/v1/invoices/{_seg(invoice_id)}/{action}", json_body=body))

    def invoice_qr_svg(self, invoice_id: str, *, address_only: bool = False, refund: Optional[str] = None) -> str:
        """``GET /v1/invoices/{id}/qr.svg``: the payment URI (or the bare address) as an SVG QR code."""
        query = {"address_only": "true" if address_only else None, "refund": refund}
        body = self.request("GET", f"/v1/invoices/{_seg(invoice_id)}/qr.svg", query=query, accept="image/svg+xml")
        return body.decode("utf-8")

    def invoice_qr_png(self, invoice_id: str, *, address_only: bool = False, refund: Optional[str] = None) -> bytes:
        """``GET /v1/invoices/{id}/qr.png``: the same QR code as a PNG."""
        query = {"address_only": "true" if address_only else None, "refund": refund}
        return self.request("GET", f"/v1/invoices/{_seg(invoice_id)}/qr.png", query=query, accept="image/png")

    def wait_for_invoice(
        self,
        invoice_id: str,
        status: Union[str, Iterable[str]] = "confirmed",
        *,
        timeout: float = 600.0,
        poll_interval: float = 2.0,
    ) -> Invoice:
        """Reads the invoice until its status is ``status`` (or one of several)
        and returns it; raises :class:`WaitTimeoutError` after ``timeout``
        seconds. Connection failures meanwhile (a daemon restarting) are
        waited out until the deadline."""
        targets = {status} if isinstance(status, str) else set(status)
        if not targets:
            raise ValueError("status must name at least one invoice status")
        deadline = time.monotonic() + timeout
        last: Optional[Invoice] = None
        while True:
            try:
                found = self.get_invoice(invoice_id)
            except APIConnectionError:
                found = None
            except APIError as err:
                if err.status not in _RETRYABLE_STATUS:
                    raise
                found = None
            if found is not None:
                if not isinstance(found, Invoice):
                    raise ValueError(f"{invoice_id} is a choice; wait for one of its options' invoices")
                last = found
                if found.status in targets:
                    return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = last.status if last is not None else "unreadable"
                wanted = " or ".join(sorted(targets))
                raise WaitTimeoutError(
                    f"invoice {invoice_id} is {seen}, not {wanted}, after {timeout:g} s", invoice=last
                )
            time.sleep(min(poll_interval, remaining))

    # --- events --------------------------------------------------------------------

    def list_events(self, *, after: int = 0, limit: Optional[int] = None, wait: Optional[int] = None) -> EventPage:
        """``GET /v1/events``: one page of the events with ``seq > after``,
        oldest first. With ``wait`` (0 to 60 s) the daemon holds the request
        until an event comes when there is none yet (long poll)."""
        query = {"after": after, "limit": limit, "wait": wait}
        timeout = self.timeout + (wait or 0)
        return EventPage.from_dict(self._json("GET", "/v1/events", query=query, timeout=timeout))

    def events(
        self,
        after: int = 0,
        *,
        wait: int = 30,
        limit: int = 100,
        follow: bool = True,
        reconnect: bool = True,
        max_retries: Optional[int] = None,
        max_backoff: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> "EventStream":
        """An iterator over the events feed from ``after`` on (a ``seq``: 0 for
        the beginning, or a saved :attr:`EventStream.cursor`).

        With ``follow`` (the default) it never ends: once caught up it waits
        for new events with long polls of ``wait`` seconds. With
        ``follow=False`` it ends when it has caught up. With ``reconnect``,
        connection failures and 5xx answers (a daemon restarting) are retried
        with a backoff of up to ``max_backoff`` seconds, ``max_retries`` times
        in a row (``None``: without end); the feed is durable, so nothing is
        missed or repeated.

        Save ``stream.cursor`` after handling each event (with the effect, in
        one transaction) and pass it as ``after`` to resume::

            stream = client.events(after=load_cursor())
            for event in stream:
                handle(event)
                save_cursor(stream.cursor)
        """
        return EventStream(
            self,
            after,
            wait=wait,
            limit=limit,
            follow=follow,
            reconnect=reconnect,
            max_retries=max_retries,
            max_backoff=max_backoff,
            sleep=sleep,
        )

    # --- deliveries ----------------------------------------------------------------

    def list_deliveries(
        self,
        *,
        status: Optional[str] = None,
        sink: Optional[str] = None,
        after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> DeliveryPage:
        """``GET /v1/deliveries``: one page in feed order, optionally only
        ``pending``, ``delivered`` or ``dead`` ones, or one sink's; pass
        ``next`` back as ``after``."""
        query = {"status": status, "sink": sink, "after": after, "limit": limit}
        return DeliveryPage.from_dict(self._json("GET", "/v1/deliveries", query=query))

    def iter_deliveries(
        self,
        *,
        status: Optional[str] = None,
        sink: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Iterator[Delivery]:
        """Every delivery :meth:`list_deliveries` finds, page after page."""
        after: Optional[str] = None
        while True:
            page = self.list_deliveries(status=status, sink=sink, after=after, limit=limit)
            yield from page.deliveries
            if not page.next:
                return
            after = page.next

    def get_delivery(self, delivery_id: str) -> Delivery:
        """``GET /v1/deliveries/{id}`` (``<seq>.<sink>``)."""
        return Delivery.from_dict(self._json("GET", f"/v1/deliveries/{_seg(delivery_id)}"))

    def retry_delivery(self, delivery_id: str) -> Delivery:
        """``POST /v1/deliveries/{id}/retry``: a dead delivery is attempted
        again (it is ``pending`` in the answer). A pending or delivered one
        raises :class:`ConflictError` ``not_dead``."""
        return Delivery.from_dict(self._json("POST", f"/v1/deliveries/{_seg(delivery_id)}/retry"))

    # --- chains --------------------------------------------------------------------

    def rescan(self, chain: str, from_height: int) -> RescanAccepted:
        """``POST /v1/chains/{chain}/rescan``: scan again from ``from_height``."""
        body = {"from": int(from_height)}
        return RescanAccepted.from_dict(self._json("POST", f"/v1/chains/{_seg(chain)}/rescan", json_body=body))

    def add_pool_addresses(self, chain: str, addresses: Sequence[str]) -> PoolResult:
        """``POST /v1/chains/{chain}/pool``: more addresses for a chain whose
        invoices use an address pool."""
        body = {"addresses": list(addresses)}
        return PoolResult.from_dict(self._json("POST", f"/v1/chains/{_seg(chain)}/pool", json_body=body))


class EventStream(Iterator[Event]):
    """The events feed as an iterator (see :meth:`Client.events`).

    :attr:`cursor` is the ``seq`` of the last event returned (or the starting
    ``after``): save it after handling an event, and a new stream from it
    resumes with the next event, neither repeating nor skipping one.
    :attr:`retries` counts the failed requests that were tried again.
    """

    def __init__(
        self,
        client: Client,
        after: int = 0,
        *,
        wait: int = 30,
        limit: int = 100,
        follow: bool = True,
        reconnect: bool = True,
        max_retries: Optional[int] = None,
        max_backoff: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 <= wait <= 60:
            raise ValueError("wait must be 0 to 60 seconds")
        self.cursor = int(after)
        self._client = client
        self._wait = wait
        self._limit = limit
        self._follow = follow
        self._reconnect = reconnect
        self._max_retries = max_retries
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._buffer: List[Event] = []
        self._done = False
        self._closed = False
        self.retries = 0

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> Event:
        while not self._buffer:
            if self._done or self._closed:
                raise StopIteration
            page = self._fetch()
            self._buffer = list(page.events)
            if not self._follow and len(page.events) < self._limit:
                self._done = True
        event = self._buffer.pop(0)
        self.cursor = event.seq
        return event

    def close(self) -> None:
        """Ends the iteration (events already fetched are dropped; the cursor
        stays at the last event returned)."""
        self._closed = True
        self._buffer = []

    def _fetch(self) -> EventPage:
        failures = 0
        while True:
            try:
                return self._client.list_events(
                    after=self.cursor, limit=self._limit, wait=self._wait if self._follow else 0
                )
            except (APIConnectionError, APIError) as err:
                retryable = isinstance(err, APIConnectionError) or err.status in _RETRYABLE_STATUS
                if not (self._reconnect and retryable):
                    raise
                if self._max_retries is not None and failures >= self._max_retries:
                    raise
                self._sleep(min(self._max_backoff, 0.25 * (2**failures)))
                failures += 1
                self.retries += 1


def _seg(value: Any) -> str:
    """One path segment, percent-encoded (the API matches segments as sent,
    so a valid id or address passes unchanged)."""
    return urllib.parse.quote(str(value), safe="")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _put(body: Dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value
